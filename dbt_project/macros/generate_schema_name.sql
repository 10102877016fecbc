{#-
    Custom schemas land exactly as named (`staging`, `intermediate`, `marts`) instead of
    dbt's default `<target_schema>_<custom_schema>`: the layers are the contract other
    tools (Dagster, the release step) read, so their names must not depend on the target.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
