{%- set min_confidence = var('adjudication_min_confidence') -%}
{%- set min_prediction_score = var('adjudication_min_prediction_score') -%}

with

item_labels as (
    select * from {{ ref('item_labels') }}
),

int_item_labels_aggregated as (
    select * from {{ ref('int_item_labels_aggregated') }}
),

int_label_votes_counted as (
    select * from {{ ref('int_label_votes_counted') }}
),

int_label_votes as (
    select * from {{ ref('int_label_votes') }}
),

int_label_predictions as (
    select * from {{ ref('int_label_predictions') }}
),

item_votes as (
    -- The counted votes of each item, and whether an adjudication (a gold vote no crowd vote is
    -- newer than) has settled it.
    select
        task_name,
        item_key,
        list(struct_pack(annotator_key, label) order by annotator_key asc)::struct(
            annotator_key varchar, label varchar
        )[] as votes,
        bool_or(is_gold) as has_gold_vote,
        max(voted_at) filter (where is_gold) as last_gold_voted_at,
        max(voted_at) filter (where not is_gold) as last_crowd_voted_at
    from int_label_votes_counted
    group by task_name, item_key
),

item_texts as (
    -- The text the votes were given on: exported as-is, it hashes back to the same item_key.
    select
        task_name,
        item_key,
        min(item_text) as item_text
    from int_label_votes
    where task_name is not null
    group by task_name, item_key
),

item_predictions as (
    -- One prediction per item: the newest, then the most confident.
    select
        task_name,
        item_key,
        label as prediction_label,
        score as prediction_score,
        model_version as prediction_model_version
    from int_label_predictions
    qualify row_number() over (
        partition by task_name, item_key
        order by created_at desc nulls last, score desc nulls last, model_version asc, source_name asc
    ) = 1
),

consensus as (
    select
        item_labels.task_name,
        item_labels.item_key,
        item_labels.item_hash,
        item_labels.label as consensus_label,
        item_labels.is_tie,
        int_item_labels_aggregated.votes,
        int_item_labels_aggregated.top_votes::double / int_item_labels_aggregated.votes::double as vote_share
    from item_labels
    inner join int_item_labels_aggregated
        on
            item_labels.task_name = int_item_labels_aggregated.task_name
            and item_labels.item_key = int_item_labels_aggregated.item_key
    where item_labels.method = 'majority_vote'
),

reasoned as (
    select
        consensus.*,
        item_votes.votes as vote_labels,
        item_votes.has_gold_vote
        and coalesce(item_votes.last_gold_voted_at >= item_votes.last_crowd_voted_at, true)
            as is_adjudicated,
        item_predictions.prediction_label,
        item_predictions.prediction_score,
        item_predictions.prediction_model_version,
        list_filter(
            [
                case when consensus.is_tie then 'tie' end,
                case
                    when
                        consensus.votes >= 2 and consensus.vote_share < {{ min_confidence }}
                        then 'low_agreement'
                end,
                case
                    when
                        item_predictions.prediction_score >= {{ min_prediction_score }}
                        and consensus.consensus_label is not null
                        and item_predictions.prediction_label != consensus.consensus_label
                        then 'model_disagrees'
                end
            ],
            reason -> reason is not null
        ) as reasons
    from consensus
    inner join item_votes
        on
            consensus.task_name = item_votes.task_name
            and consensus.item_key = item_votes.item_key
    left join item_predictions
        on
            consensus.task_name = item_predictions.task_name
            and consensus.item_key = item_predictions.item_key
),

queued as (
    select *
    from reasoned
    where len(reasons) > 0 and not is_adjudicated
),

final as (
    select
        queued.task_name,
        queued.item_key,
        queued.item_hash,
        item_texts.item_text,
        queued.reasons::varchar[] as reasons,
        queued.vote_labels as votes,
        queued.votes::bigint as vote_count,
        queued.vote_share,
        queued.consensus_label,
        queued.prediction_label,
        queued.prediction_score,
        queued.prediction_model_version,
        -- 1 = look at first: more reasons, then less agreement, then a more confident model.
        row_number() over (
            partition by queued.task_name
            order by
                len(queued.reasons) desc,
                queued.vote_share asc,
                queued.prediction_score desc nulls last,
                queued.item_key asc
        )::bigint as priority
    from queued
    left join item_texts
        on
            queued.task_name = item_texts.task_name
            and queued.item_key = item_texts.item_key
)

select * from final
