{%- set min_items = var('annotator_min_items_to_flag') -%}

with

int_label_votes_compared as (
    select * from {{ ref('int_label_votes_compared') }}
),

int_label_votes as (
    select * from {{ ref('int_label_votes') }}
),

int_dawid_skene_fitted as (
    select * from {{ ref('int_dawid_skene_fitted') }}
),

vote_stats as (
    select
        task_name,
        annotator_key,
        any_value(source_name) as source_name,
        count(*) as votes,
        count(agrees_with_others) as consensus_items,
        count(*) filter (where agrees_with_others) as consensus_agreeing,
        count(agrees_with_gold) as gold_items,
        count(*) filter (where agrees_with_gold) as gold_agreeing,
        median(lead_time_seconds) as median_lead_time_seconds
    from int_label_votes_compared
    group by task_name, annotator_key
),

task_items as (
    select distinct
        task_name,
        item_key
    from int_label_votes_compared
),

skips as (
    -- A skip without a task (Label Studio: an empty result) counts for every task of its item.
    select distinct
        coalesce(int_label_votes.task_name, task_items.task_name) as task_name,
        int_label_votes.annotator_key,
        int_label_votes.source_name,
        int_label_votes.item_key
    from int_label_votes
    left join task_items
        on
            int_label_votes.task_name is null
            and int_label_votes.item_key = task_items.item_key
    where int_label_votes.status in ('skipped', 'discarded')
),

unanswered_skips as (
    -- Skipped items the annotator did not answer in the end.
    select
        skips.task_name,
        skips.annotator_key,
        any_value(skips.source_name) as source_name,
        count(*) as skipped_items
    from skips
    anti join int_label_votes_compared
        on
            skips.task_name = int_label_votes_compared.task_name
            and skips.annotator_key = int_label_votes_compared.annotator_key
            and skips.item_key = int_label_votes_compared.item_key
    where skips.task_name is not null
    group by skips.task_name, skips.annotator_key
),

dawid_skene_accuracy as (
    -- Mean of the diagonal of the annotator's confusion matrix: P(answer c | true label c)
    -- averaged over the task's classes (a balanced accuracy).
    select
        task_name,
        annotator_key,
        avg(probability) as dawid_skene_accuracy
    from int_dawid_skene_fitted
    where component = 'confusion' and label = true_label
    group by task_name, annotator_key
),

annotators as (
    select
        task_name,
        annotator_key,
        source_name
    from vote_stats
    union
    select
        task_name,
        annotator_key,
        source_name
    from unanswered_skips
),

measured as (
    select
        annotators.task_name,
        annotators.annotator_key,
        annotators.source_name,
        coalesce(vote_stats.votes, 0) as votes,
        coalesce(unanswered_skips.skipped_items, 0) as skipped_items,
        coalesce(vote_stats.consensus_items, 0) as consensus_items,
        vote_stats.consensus_agreeing::double / nullif(vote_stats.consensus_items, 0) as consensus_agreement,
        coalesce(vote_stats.gold_items, 0) as gold_items,
        vote_stats.gold_agreeing::double / nullif(vote_stats.gold_items, 0) as gold_agreement,
        dawid_skene_accuracy.dawid_skene_accuracy,
        vote_stats.median_lead_time_seconds
    from annotators
    left join vote_stats
        on
            annotators.task_name = vote_stats.task_name
            and annotators.annotator_key = vote_stats.annotator_key
    left join unanswered_skips
        on
            annotators.task_name = unanswered_skips.task_name
            and annotators.annotator_key = unanswered_skips.annotator_key
    left join dawid_skene_accuracy
        on
            annotators.task_name = dawid_skene_accuracy.task_name
            and annotators.annotator_key = dawid_skene_accuracy.annotator_key
),

flagged as (
    select
        *,
        skipped_items::double / (votes + skipped_items) as skip_rate,
        -- Each check needs at least var annotator_min_items_to_flag items of its own evidence.
        list_filter(
            [
                case
                    when
                        consensus_items >= {{ min_items }}
                        and consensus_agreement < {{ var('annotator_min_consensus_agreement') }}
                        then 'consensus_agreement'
                end,
                case
                    when
                        gold_items >= {{ min_items }}
                        and gold_agreement < {{ var('annotator_min_gold_agreement') }}
                        then 'gold_agreement'
                end,
                case
                    when
                        votes >= {{ min_items }}
                        and dawid_skene_accuracy < {{ var('annotator_min_dawid_skene_accuracy') }}
                        then 'dawid_skene_accuracy'
                end,
                case
                    when
                        votes + skipped_items >= {{ min_items }}
                        and skipped_items::double / (votes + skipped_items)
                        > {{ var('annotator_max_skip_rate') }}
                        then 'skip_rate'
                end
            ],
            reason -> reason is not null
        ) as flag_reasons
    from measured
),

final as (
    select
        task_name,
        annotator_key,
        source_name,
        votes::bigint as votes,
        skipped_items::bigint as skipped_items,
        skip_rate,
        consensus_items::bigint as consensus_items,
        consensus_agreement,
        gold_items::bigint as gold_items,
        gold_agreement,
        dawid_skene_accuracy,
        median_lead_time_seconds,
        len(flag_reasons) > 0 as is_flagged,
        flag_reasons
    from flagged
)

select * from final
