-- The labeling functions (docs/labeling/weak-supervision.md): one row per enabled model tagged
-- `labeling_function`, found in dbt's graph at execution time (macro labeling_functions), so a
-- function that never votes is still listed (lf_analysis reports its coverage as 0).
-- depends_on: {{ ref('int_documents_deduplicated') }}
{%- set functions = labeling_functions() %}

with

functions as (
    select * from (
        values
        {%- for function in functions %}
            (
                {{ sql_string_literal(function.task) }},
                {{ sql_string_literal(function.name) }},
                {{ sql_string_literal(function.description) }},
                {{ sql_string_literal(function.path) }}
            ){{ ',' if not loop.last }}
        {%- else %}
            (null, null, null, null)
        {%- endfor %}
    ) as registry (task_name, lf_name, description, model_path)
),

final as (
    select
        task_name::varchar as task_name,
        lf_name::varchar as lf_name,
        description::varchar as description,
        model_path::varchar as model_path
    from functions
    where lf_name is not null
)

select * from final
