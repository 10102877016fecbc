-- Confident learning (Northcutt, Jiang and Chuang 2021), as cleanlab 2.9.0's
-- find_label_issues(labels, pred_probs, filter_by='confident_learning') computes it, per task.
-- The predictions must be out-of-sample (e.g. cross-validated): a model that was trained on these
-- labels agrees with them, and nothing is found.

with

item_labels as (
    select * from {{ ref('item_labels') }}
),

int_label_predictions as (
    select * from {{ ref('int_label_predictions') }}
),

given_labels as (
    -- The human label training_examples uses (var training_label_method).
    select
        task_name,
        item_key,
        item_hash,
        label as given_label,
        label_basis as given_label_basis
    from item_labels
    where
        method = '{{ var("training_label_method") }}'
        and label is not null
),

latest_predictions as (
    -- One prediction per item: the newest, then the most confident.
    select *
    from int_label_predictions
    qualify row_number() over (
        partition by task_name, item_key
        order by created_at desc nulls last, score desc nulls last, model_version asc, source_name asc
    ) = 1
),

examples as (
    select
        given_labels.*,
        latest_predictions.source_name,
        latest_predictions.item_id,
        latest_predictions.model_version,
        latest_predictions.probabilities
    from given_labels
    inner join latest_predictions
        on
            given_labels.task_name = latest_predictions.task_name
            and given_labels.item_key = latest_predictions.item_key
),

unnested_probabilities as (
    select
        task_name,
        item_key,
        unnest(probabilities) as entry
    from examples
),

listed_probabilities as (
    select
        task_name,
        item_key,
        struct_extract(entry, 'label') as class_label,
        max(struct_extract(entry, 'probability')) as probability
    from unnested_probabilities
    group by task_name, item_key, struct_extract(entry, 'label')
),

class_labels as (
    select
        task_name,
        given_label as class_label
    from examples
    union
    select
        task_name,
        class_label
    from listed_probabilities
),

classes as (
    -- The task's classes: every label given or predicted; cleanlab's class index order is the
    -- labels' sort order (it breaks argmax ties by the lower index).
    select
        task_name,
        class_label,
        row_number() over (partition by task_name order by class_label asc) as class_index
    from class_labels
),

cells as (
    -- pred_probs[item, class]; a class the prediction does not list has probability 0.
    select
        examples.task_name,
        examples.item_key,
        examples.given_label,
        classes.class_label,
        classes.class_index,
        coalesce(listed_probabilities.probability, 0.0) as probability
    from examples
    inner join classes
        on examples.task_name = classes.task_name
    left join listed_probabilities
        on
            examples.task_name = listed_probabilities.task_name
            and examples.item_key = listed_probabilities.item_key
            and classes.class_label = listed_probabilities.class_label
),

thresholds as (
    -- t_j: the mean predicted probability of class j over the items labeled j (cleanlab's
    -- get_confident_thresholds); 2 (never reached) for a class nobody was given; at least 2e-6.
    -- Summed in item order, not by avg(), whose parallel order changes the last bit between runs.
    select
        task_name,
        class_label,
        greatest(
            coalesce(
                list_sum(list(probability order by item_key) filter (where given_label = class_label))
                / nullif(count(*) filter (where given_label = class_label), 0),
                2.0
            ),
            2e-6
        ) as threshold
    from cells
    group by task_name, class_label
),

judged as (
    select
        cells.*,
        thresholds.threshold,
        cells.probability >= thresholds.threshold - 1e-6 as is_confident
    from cells
    inner join thresholds
        on
            cells.task_name = thresholds.task_name
            and cells.class_label = thresholds.class_label
),

items as (
    select
        task_name,
        item_key,
        any_value(given_label) as given_label,
        count(*) filter (where is_confident) as confident_classes,
        -- One class at or above its threshold: that class. Several: the most probable class
        -- (cleanlab's true_label_guess).
        first(class_label order by class_index asc) filter (where is_confident) as only_confident_label,
        first(class_label order by probability desc, class_index asc) as most_probable_label,
        -- cleanlab's _reduce_issues: the given label still wins with 1e-6 added to its probability.
        first(
            class_label
            order by
                probability + case when class_label = given_label then 1e-6 else 0 end desc,
                class_index asc
        ) as most_probable_given_favoured,
        any_value(probability) filter (where class_label = given_label) as given_label_probability,
        any_value(threshold) filter (where class_label = given_label) as given_label_threshold
    from judged
    group by task_name, item_key
),

guessed as (
    select
        *,
        case
            when confident_classes > 1 then most_probable_label
            when confident_classes = 1 then only_confident_label
        end as suggested_label
    from items
),

candidates as (
    select
        guessed.*,
        judged.probability as suggested_label_probability,
        judged.threshold as suggested_label_threshold
    from guessed
    inner join judged
        on
            guessed.task_name = judged.task_name
            and guessed.item_key = judged.item_key
            and guessed.suggested_label = judged.class_label
    where
        guessed.suggested_label != guessed.given_label
        and guessed.most_probable_given_favoured != guessed.given_label
),

final as (
    select
        candidates.task_name,
        candidates.item_key,
        examples.item_hash,
        candidates.given_label,
        examples.given_label_basis,
        candidates.suggested_label,
        candidates.given_label_probability,
        candidates.given_label_threshold,
        candidates.suggested_label_probability,
        candidates.suggested_label_threshold,
        examples.source_name,
        examples.item_id,
        examples.model_version,
        -- cleanlab's default ranking (self_confidence): the least probable given label first.
        row_number() over (
            partition by candidates.task_name
            order by candidates.given_label_probability asc, candidates.item_key asc
        )::bigint as noise_rank
    from candidates
    inner join examples
        on
            candidates.task_name = examples.task_name
            and candidates.item_key = examples.item_key
)

select * from final
