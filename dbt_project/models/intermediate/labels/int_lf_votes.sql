-- The votes of every labeling function (docs/labeling/weak-supervision.md): one row per function
-- and document it labels; abstentions (label NULL) are left out, as in int_label_votes only votes
-- are rows. The functions are the models tagged `labeling_function` (macro labeling_functions):
-- their SQL is inlined below, one CTE each, because dbt cannot ref models it discovers only at
-- execution time. A function may read int_documents_deduplicated; for any other model add its
-- `-- depends_on:` line here (the build says so). Only kept documents of the sources a task
-- covers count (var weak_supervision_sources).
-- A table: the functions' regular expressions run once per build, not in every reader.
{{ config(materialized='table') }}
{%- set functions = labeling_functions() %}

with

int_documents_deduplicated as (
    select * from {{ ref('int_documents_deduplicated') }}
),

{% for function in functions -%}
{{ function.name }} as (
    {{ function.sql }}
),

{% endfor -%}
votes as (
    {%- for function in functions %}
        select
            {{ sql_string_literal(function.task) }} as task_name,
            {{ sql_string_literal(function.name) }} as lf_name,
            document_id::varchar as document_id,
            label::varchar as label
        from {{ function.name }}
        where label is not null
        {{ 'union all' if not loop.last }}
    {%- else %}
        select
            null::varchar as task_name,
            null::varchar as lf_name,
            null::varchar as document_id,
            null::varchar as label
        where false
    {%- endfor %}
),

kept_documents as (
    select
        document_id,
        source_name
    from int_documents_deduplicated
    where is_kept
),

final as (
    select
        votes.task_name,
        votes.lf_name,
        votes.document_id,
        votes.label
    from votes
    inner join kept_documents
        on votes.document_id = kept_documents.document_id
    where {{ weak_supervision_scope('votes.task_name', 'kept_documents.source_name') }}
)

select * from final
