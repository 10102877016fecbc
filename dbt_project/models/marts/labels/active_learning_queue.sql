{%- set strategy = var('active_learning_strategy') -%}
{%- if strategy not in ['least_confidence', 'margin', 'entropy'] -%}
    {{ exceptions.raise_compiler_error(
        "var active_learning_strategy is '" ~ strategy ~ "': use least_confidence, margin or entropy "
        ~ "(dbt_project/dbt_project.yml, or --vars '{active_learning_strategy: margin}')"
    ) }}
{%- endif -%}
{%- set batch_size = var('active_learning_batch_size') | int -%}
{#- The most informative item first: least confidence and entropy largest, margin smallest. -#}
{%- set strategy_order = {
    'least_confidence': 'least_confidence desc',
    'margin': 'margin asc',
    'entropy': 'entropy desc',
}[strategy] -%}

with

int_label_predictions as (
    select * from {{ ref('int_label_predictions') }}
),

item_labels as (
    select * from {{ ref('item_labels') }}
),

human_labels as (
    -- Items with a human label by the method training_examples uses (var training_label_method).
    select
        task_name,
        item_key,
        label,
        is_tie
    from item_labels
    where method = '{{ var("training_label_method") }}'
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

unlabeled as (
    select
        latest_predictions.*,
        human_labels.is_tie is true as is_tie
    from latest_predictions
    left join human_labels
        on
            latest_predictions.task_name = human_labels.task_name
            and latest_predictions.item_key = human_labels.item_key
    where human_labels.label is null
),

measured as (
    select
        *,
        list_reverse_sort(list_transform(probabilities, p -> p.probability)) as sorted_probabilities
    from unlabeled
),

scored as (
    select
        *,
        sorted_probabilities[1] as max_probability,
        -- modAL's classifier_uncertainty, classifier_margin and classifier_entropy (natural log), on the
        -- listed classes: a class the prediction does not list counts as probability 0.
        1.0 - sorted_probabilities[1] as least_confidence,
        sorted_probabilities[1] - coalesce(sorted_probabilities[2], 0.0) as margin,
        coalesce(
            -list_sum(list_transform(list_filter(sorted_probabilities, p -> p > 0), p -> p * ln(p))), 0.0
        ) as entropy
    from measured
),

ranked as (
    select
        *,
        row_number() over (
            partition by task_name
            order by {{ strategy_order }}, item_key asc
        ) as query_rank
    from scored
),

final as (
    select
        task_name,
        item_key,
        source_name,
        item_id,
        model_version,
        label as predicted_label,
        max_probability,
        least_confidence,
        margin,
        entropy,
        '{{ strategy }}' as strategy,
        {{ strategy }} as uncertainty,
        is_tie,
        query_rank::bigint as query_rank
    from ranked
    where query_rank <= {{ batch_size }}
)

select * from final
