-- Weak labels (docs/labeling/weak-supervision.md): per task and document that at least one
-- labeling function voted on, the label with the highest sum of weights of the functions voting
-- for it (weights from int_lf_accuracies). confidence is that label's posterior under a one-coin
-- model with independent functions and a uniform class prior:
--   P(y) = exp(score_y) / (sum of exp(score_c) over the task's k classes; unvoted classes score 0).
-- Tie policy as for human votes: two labels sharing the top score give no label (is_tie).
with

int_lf_votes as (
    select * from {{ ref('int_lf_votes') }}
),

int_lf_accuracies as (
    select * from {{ ref('int_lf_accuracies') }}
),

label_scores as (
    select
        votes.task_name,
        votes.document_id,
        votes.label,
        any_value(accuracies.n_classes) as n_classes,
        count(*) as n_votes,
        sum(accuracies.weight) as score
    from int_lf_votes as votes
    inner join int_lf_accuracies as accuracies
        on
            votes.task_name = accuracies.task_name
            and votes.lf_name = accuracies.lf_name
    group by votes.task_name, votes.document_id, votes.label
),

document_scores as (
    select
        *,
        max(score) over (partition by task_name, document_id) as top_score
    from label_scores
),

posteriors as (
    select
        task_name,
        document_id,
        sum(n_votes) as n_lfs_voting,
        -- Scores are sums of doubles: equal up to rounding counts as a tie.
        count(*) filter (where score >= top_score - 1e-9) as top_labels,
        min(label) filter (where score >= top_score - 1e-9) as top_label,
        -- exp(score - top_score) keeps every term <= 1: no overflow with many agreeing functions.
        1.0 / (
            sum(exp(score - top_score))
            + (any_value(n_classes) - count(*)) * exp(-any_value(top_score))
        ) as confidence
    from document_scores
    group by task_name, document_id
),

final as (
    select
        document_id,
        task_name,
        case when top_labels = 1 then top_label end as label,
        confidence::double as confidence,
        n_lfs_voting::bigint as n_lfs_voting,
        top_labels > 1 as is_tie
    from posteriors
)

select * from final
