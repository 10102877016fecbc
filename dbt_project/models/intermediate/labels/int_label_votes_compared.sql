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

item_counts as (
    select
        *,
        max(label_votes) over (partition by task_name, item_key) as top_votes
    from label_counts
),

item_tops as (
    -- Per item: the top count, how many labels reach it (the first two of them), and the best
    -- count below it (0 if none).
    select
        task_name,
        item_key,
        any_value(top_votes) as top_votes,
        count(*) filter (where label_votes = top_votes) as top_label_count,
        min(label) filter (where label_votes = top_votes) as first_top_label,
        max(label) filter (where label_votes = top_votes) as last_top_label,
        coalesce(max(label_votes) filter (where label_votes < top_votes), 0) as second_votes
    from item_counts
    group by task_name, item_key
),

others_majority as (
    -- The majority of the OTHER annotators of the item (leave-one-out: a vote is never compared
    -- with itself), from the item's counts with this vote taken out:
    --   the vote's label is the only top label: it stays the others' majority if it still beats
    --     the runner-up without this vote, else they tie (or there is no other vote): none;
    --   it is one of two top labels: the other one now leads;
    --   it is one of three or more top labels: the others still tie;
    --   it is not a top label: the others' majority is the item's, if there is exactly one.
    select
        int_label_votes_counted.vote_id,
        case
            when
                int_label_votes_counted.label not in (item_tops.first_top_label, item_tops.last_top_label)
                or item_tops.top_label_count > 2
                then case when item_tops.top_label_count = 1 then item_tops.first_top_label end
            when item_tops.top_label_count = 2
                then
                    case
                        when int_label_votes_counted.label = item_tops.first_top_label
                            then item_tops.last_top_label
                        else item_tops.first_top_label
                    end
            when item_tops.top_votes - 1 > item_tops.second_votes then int_label_votes_counted.label
        end as others_label
    from int_label_votes_counted
    inner join item_tops
        on
            int_label_votes_counted.task_name = item_tops.task_name
            and int_label_votes_counted.item_key = item_tops.item_key
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
        others_majority.others_label,
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
