-- The votes that count for agreement: submitted ones only, one per (task_name, item_key,
-- annotator_key) — the annotator's latest, ordered as in int_item_labels_aggregated.
with

int_label_votes as (
    select * from {{ ref('int_label_votes') }}
),

submitted_votes as (
    select *
    from int_label_votes
    where
        status = 'submitted'
        and task_name is not null
        and item_key is not null
        and label is not null
),

latest_votes as (
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

final as (
    select
        vote_id,
        task_name,
        item_key,
        annotator_key,
        source_name,
        label,
        level,
        label_value,
        is_gold,
        created_at,
        updated_at
    from latest_votes
)

select * from final
