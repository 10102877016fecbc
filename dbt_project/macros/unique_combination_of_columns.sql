{#-
    Generic test: no two rows share the same values of `combination_of_columns`
    (written here rather than taken from dbt_utils: the project installs no packages).
    A returned row is one duplicated combination and how many rows carry it.
-#}
{% test unique_combination_of_columns(model, combination_of_columns) -%}
    {%- set columns = combination_of_columns | join(', ') -%}
    select
        {{ columns }},
        count(*) as rows_with_combination
    from {{ model }}
    group by {{ columns }}
    having count(*) > 1
{%- endtest %}
