{#-
    A salted, portable 64-bit hash bucket in [0, 10000): the first 15 hex digits of
    md5(salt || ':' || key) as a (positive) bigint, modulo 10 000. md5 is available on
    every warehouse dbt supports, so the same key lands in the same bucket on DuckDB and
    on Spark; other adapters add a `<adapter>__hash_bucket` implementation.
-#}
{% macro hash_bucket(key_expression, salt) -%}
    {{ return(adapter.dispatch('hash_bucket', 'refinery')(key_expression, salt)) }}
{%- endmacro %}

{% macro default__hash_bucket(key_expression, salt) -%}
    (('0x' || substr(md5({{ sql_string_literal(salt) }} || ':' || {{ key_expression }}), 1, 15))::bigint % 10000)
{%- endmacro %}

{#-
    The split of a group key: buckets below train_fraction * 10 000 are `train`, the next
    validation_fraction * 10 000 are `validation`, the rest `test`. Fractions come from
    vars `split_train_fraction` / `split_validation_fraction`; invalid values stop the run.
-#}
{% macro split_cutoffs() -%}
    {%- set train_fraction = var('split_train_fraction') | float -%}
    {%- set validation_fraction = var('split_validation_fraction') | float -%}
    {%- if train_fraction < 0 or validation_fraction < 0 or train_fraction + validation_fraction > 1.000001 -%}
        {{ exceptions.raise_compiler_error(
            "vars split_train_fraction=" ~ train_fraction ~ " and split_validation_fraction="
            ~ validation_fraction ~ " must be >= 0 with a sum <= 1; fix them in dbt_project.yml or --vars."
        ) }}
    {%- endif -%}
    {%- set train_cutoff = (train_fraction * 10000) | round | int -%}
    {%- set validation_cutoff = ((train_fraction + validation_fraction) * 10000) | round | int -%}
    {{ return([train_cutoff, [validation_cutoff, 10000] | min]) }}
{%- endmacro %}

{% macro assign_split(bucket_expression) -%}
    {%- set cutoffs = split_cutoffs() -%}
    case
        when {{ bucket_expression }} < {{ cutoffs[0] }} then 'train'
        when {{ bucket_expression }} < {{ cutoffs[1] }} then 'validation'
        else 'test'
    end
{%- endmacro %}
