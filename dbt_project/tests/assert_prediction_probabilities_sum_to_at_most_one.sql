-- A returned row is a prediction whose class probabilities add up to more than 1 (beyond
-- rounding, 0.01): the predictions file lists a class twice under different spellings, mixes
-- two predictions of one item under one model version and created_at, or holds scores that are
-- not probabilities, so least-confidence, margin and entropy computed from it are wrong.
-- A warning, not an error: the file is the model owner's to fix, and the labels do not depend
-- on it. A sum below 1 is allowed (a file may list only the top classes).
{{ config(severity='warn') }}

with

int_label_predictions as (
    select * from {{ ref('int_label_predictions') }}
),

final as (
    select
        prediction_id,
        source_name,
        task_name,
        item_id,
        model_version,
        list_sum(list_transform(probabilities, entry -> entry.probability)) as probability_sum
    from int_label_predictions
    where list_sum(list_transform(probabilities, entry -> entry.probability)) > 1.01
)

select * from final
