with

int_label_votes as (
    select * from {{ ref('int_label_votes') }}
),

votes_with_annotator as (
    select
        * exclude (annotator_key),
        -- Label Studio user ids are only unique inside one export (source), and an
        -- annotation without completed_by counts as its own anonymous annotator.
        source_name || ':' || coalesce(annotator_id, 'annotation-' || coalesce(annotation_id, vote_id))
            as annotator_key
    from int_label_votes
    where item_hash is not null
),

submitted_votes as (
    select *
    from votes_with_annotator
    where
        status = 'submitted'
        and task_name is not null
        and label is not null
),

latest_votes as (
    -- One vote per annotator and item: their latest submitted one.
    select *
    from submitted_votes
    qualify row_number() over (
        partition by task_name, item_hash, annotator_key
        order by
            updated_at desc nulls last,
            created_at desc nulls last,
            try_cast(annotation_id as bigint) desc nulls last,
            vote_id desc
    ) = 1
),

label_counts as (
    select
        task_name,
        item_hash,
        label,
        count(*) as label_votes
    from latest_votes
    group by task_name, item_hash, label
),

label_totals as (
    select
        *,
        sum(label_votes) over (partition by task_name, item_hash) as votes,
        max(label_votes) over (partition by task_name, item_hash) as top_votes
    from label_counts
),

top_labels as (
    select
        task_name,
        item_hash,
        any_value(votes) as votes,
        any_value(top_votes) as top_votes,
        count(*) as top_label_count,
        min(label) as top_label
    from label_totals
    where label_votes = top_votes
    group by task_name, item_hash
),

item_annotators as (
    select
        item_hash,
        count(distinct annotator_key) as annotators
    from votes_with_annotator
    group by item_hash
),

final as (
    select
        top_labels.task_name,
        top_labels.item_hash,
        -- Tie policy: when two or more labels share the top count there is no label.
        case when top_labels.top_label_count = 1 then top_labels.top_label end as label,
        top_labels.votes::bigint as votes,
        top_labels.top_votes::bigint as top_votes,
        top_labels.top_votes::double / top_labels.votes::double as confidence,
        top_labels.top_label_count > 1 as is_tie,
        item_annotators.annotators::bigint as annotators
    from top_labels
    left join item_annotators
        on top_labels.item_hash = item_annotators.item_hash
)

select * from final
