-- A table: the tie policy prefer_quality and annotator_quality both read it.
{{ config(materialized='table') }}

with

int_label_votes_counted as (
    select * from {{ ref('int_label_votes_counted') }}
),

label_counts as (
    select
        task_name,
        item_key,
        label,
        count(*) as label_votes
    from int_label_votes_counted
    group by task_name, item_key, label
),

others_counts as (
    -- For every vote, how many OTHER annotators of the item chose each label (leave-one-out:
    -- the vote is not compared with itself).
    select
        int_label_votes_counted.vote_id,
        label_counts.label as other_label,
        label_counts.label_votes
        - (label_counts.label = int_label_votes_counted.label)::integer as other_votes
    from int_label_votes_counted
    inner join label_counts
        on
            int_label_votes_counted.task_name = label_counts.task_name
            and int_label_votes_counted.item_key = label_counts.item_key
),

others_majority as (
    -- The others' majority label, when one label has strictly more of their votes than any other.
    select
        vote_id,
        max(other_votes, 2) as top_two_votes,
        arg_max(other_label, other_votes) as top_label
    from others_counts
    group by vote_id
),

gold_labels as (
    -- The item's gold label: its latest gold vote (an adjudication imported back is the newest).
    select
        task_name,
        item_key,
        label as gold_label
    from int_label_votes_counted
    where is_gold
    qualify row_number() over (
        partition by task_name, item_key
        order by voted_at desc nulls last, vote_id desc
    ) = 1
),

final as (
    select
        int_label_votes_counted.*,
        case
            when
                others_majority.top_two_votes[1] > 0
                and coalesce(others_majority.top_two_votes[2], 0) < others_majority.top_two_votes[1]
                then others_majority.top_label
        end as others_label,
        gold_labels.gold_label
    from int_label_votes_counted
    left join others_majority
        on int_label_votes_counted.vote_id = others_majority.vote_id
    left join gold_labels
        on
            int_label_votes_counted.task_name = gold_labels.task_name
            and int_label_votes_counted.item_key = gold_labels.item_key
),

compared as (
    select
        *,
        -- NULL when the other annotators have no majority (no other vote, or a tie among them).
        label = others_label as agrees_with_others,
        -- Only votes that are not gold themselves are compared with the item's gold label.
        case when not is_gold and gold_label is not null then label = gold_label end as agrees_with_gold
    from final
)

select * from compared
