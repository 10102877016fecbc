{%- set tie_policy = var('tie_policy') -%}
{%- if tie_policy not in ['adjudicate', 'prefer_gold', 'prefer_quality'] -%}
    {{ exceptions.raise_compiler_error(
        "var tie_policy is '" ~ tie_policy ~ "': use adjudicate, prefer_gold or prefer_quality "
        ~ "(dbt_project/dbt_project.yml, or --vars '{tie_policy: adjudicate}')"
    ) }}
{%- endif -%}
-- A table: item_labels reads it twice, and it is where the majority vote is computed.
{{ config(materialized='table') }}

with

int_label_votes_compared as (
    select * from {{ ref('int_label_votes_compared') }}
),

int_label_votes as (
    select * from {{ ref('int_label_votes') }}
),

annotator_agreement as (
    -- Per annotator and task: how often their vote matched the other annotators' majority
    -- (leave-one-out), over the items where the others had one.
    select
        task_name,
        annotator_key,
        count(agrees_with_others) as compared_votes,
        count(*) filter (where agrees_with_others) as agreeing_votes
    from int_label_votes_compared
    group by task_name, annotator_key
),

scored_votes as (
    select
        int_label_votes_compared.*,
        -- The voter's quality score measured on their OTHER items (this item's vote removed),
        -- so a tie is never broken by the agreement the tied vote itself earned or lost.
        (
            annotator_agreement.agreeing_votes
            - coalesce(int_label_votes_compared.agrees_with_others::integer, 0)
        )::double
        / nullif(
            annotator_agreement.compared_votes
            - (int_label_votes_compared.agrees_with_others is not null)::integer,
            0
        ) as voter_quality
    from int_label_votes_compared
    inner join annotator_agreement
        on
            int_label_votes_compared.task_name = annotator_agreement.task_name
            and int_label_votes_compared.annotator_key = annotator_agreement.annotator_key
),

label_counts as (
    select
        task_name,
        item_key,
        label,
        count(*) as label_votes,
        bool_or(is_gold or is_expert) as has_expert_vote,
        max(voter_quality) as best_voter_quality
    from scored_votes
    group by task_name, item_key, label
),

label_totals as (
    select
        *,
        sum(label_votes) over (partition by task_name, item_key) as votes,
        max(label_votes) over (partition by task_name, item_key) as top_votes
    from label_counts
),

tied_labels as (
    select
        *,
        max(best_voter_quality) over (partition by task_name, item_key) as item_best_quality
    from label_totals
    where label_votes = top_votes
),

top_labels as (
    select
        task_name,
        item_key,
        any_value(votes) as votes,
        any_value(top_votes) as top_votes,
        count(*) as top_label_count,
        min(label) as top_label,
        -- prefer_gold: the top labels that a gold vote or an expert annotator gave.
        count(*) filter (where has_expert_vote) as expert_label_count,
        min(label) filter (where has_expert_vote) as expert_label,
        -- prefer_quality: the top labels whose best voter has the highest quality score.
        count(*) filter (where best_voter_quality = item_best_quality) as best_quality_label_count,
        min(label) filter (where best_voter_quality = item_best_quality) as best_quality_label
    from tied_labels
    group by task_name, item_key
),

items as (
    select
        task_name,
        item_key,
        any_value(item_hash) as item_hash,
        any_value(gold_label) as gold_label,
        max(voted_at) as last_voted_at,
        max(extracted_at) as last_extracted_at
    from int_label_votes_compared
    group by task_name, item_key
),

item_annotators as (
    select
        item_key,
        count(distinct annotator_key) as annotators
    from int_label_votes
    group by item_key
),

decided as (
    select
        top_labels.*,
        items.item_hash,
        items.gold_label,
        items.last_voted_at,
        items.last_extracted_at,
        item_annotators.annotators,
        case
            {%- if var('gold_overrides_consensus') %}
                -- Gold wins: an adjudicated or ground-truth vote decides the item.
                when items.gold_label is not null then 'gold'
            {%- endif %}
            when top_labels.top_label_count = 1 then 'majority'
            {%- if tie_policy == 'prefer_gold' %}
                when top_labels.expert_label_count = 1 then 'tie_gold'
            {%- elif tie_policy == 'prefer_quality' %}
                when top_labels.best_quality_label_count = 1 then 'tie_quality'
            {%- endif %}
        end as label_basis
    from top_labels
    inner join items
        on
            top_labels.task_name = items.task_name
            and top_labels.item_key = items.item_key
    left join item_annotators
        on top_labels.item_key = item_annotators.item_key
),

final as (
    select
        task_name,
        item_key,
        item_hash,
        case label_basis
            when 'gold' then gold_label
            when 'majority' then top_label
            when 'tie_gold' then expert_label
            when 'tie_quality' then best_quality_label
        end as label,
        label_basis,
        votes::bigint as votes,
        top_votes::bigint as top_votes,
        case when label_basis = 'gold' then 1.0 else top_votes::double / votes::double end as confidence,
        -- A tie the policy could not resolve: no label, the item goes to adjudication.
        label_basis is null as is_tie,
        gold_label,
        annotators::bigint as annotators,
        last_voted_at,
        last_extracted_at
    from decided
)

select * from final
