-- A table: majority vote, Dawid-Skene and annotator quality all read it (1M votes in the benchmark).
{{ config(materialized='table') }}

with

int_label_votes as (
    select * from {{ ref('int_label_votes') }}
),

stg_refinery__annotation_tasks as (
    select * from {{ ref('stg_refinery__annotation_tasks') }}
),

submitted_votes as (
    select
        vote_id,
        source_name,
        tool,
        task_id,
        annotation_id,
        annotator_key,
        task_name,
        item_key,
        item_hash,
        label,
        level,
        label_value,
        is_gold,
        lead_time_seconds,
        created_at,
        updated_at
    from int_label_votes
    where
        status = 'submitted'
        and task_name is not null
        and label is not null
),

latest_votes as (
    -- One vote per annotator, task and item: their latest submitted one.
    select *
    from submitted_votes
    qualify row_number() over (
        partition by task_name, item_key, annotator_key
        order by
            updated_at desc nulls last,
            created_at desc nulls last,
            try_cast(annotation_id as bigint) desc nulls last,
            annotation_id desc nulls last,
            vote_id desc
    ) = 1
),

task_imports as (
    -- When the task a vote belongs to was landed: the import the vote came from.
    select
        source_name,
        task_id,
        max(extracted_at) as extracted_at
    from stg_refinery__annotation_tasks
    group by source_name, task_id
),

final as (
    select
        latest_votes.vote_id,
        latest_votes.task_name,
        latest_votes.item_key,
        latest_votes.item_hash,
        latest_votes.annotator_key,
        latest_votes.source_name,
        latest_votes.tool,
        latest_votes.label,
        latest_votes.level,
        latest_votes.label_value,
        coalesce(latest_votes.is_gold, false) as is_gold,
        -- prefer_gold treats votes of these annotators like gold votes (var expert_annotators).
        latest_votes.annotator_key in (
            {%- for key in var('expert_annotators') or [] %}
            {{ sql_string_literal(key) }}{{ ',' if not loop.last }}
            {%- endfor %}
            {%- if not var('expert_annotators') %}null{% endif %}
        ) is true as is_expert,
        latest_votes.lead_time_seconds,
        latest_votes.created_at,
        latest_votes.updated_at,
        coalesce(latest_votes.updated_at, latest_votes.created_at) as voted_at,
        task_imports.extracted_at
    from latest_votes
    left join task_imports
        on
            latest_votes.source_name = task_imports.source_name
            and latest_votes.task_id = task_imports.task_id
)

select * from final
