with

int_item_labels_aggregated as (
    select * from {{ ref('int_item_labels_aggregated') }}
),

int_dawid_skene_fitted as (
    select * from {{ ref('int_dawid_skene_fitted') }}
),

int_documents_deduplicated as (
    select * from {{ ref('int_documents_deduplicated') }}
),

document_hashes as (
    select distinct content_hash
    from int_documents_deduplicated
    where content_hash is not null
),

majority_vote as (
    select
        task_name,
        item_key,
        'majority_vote' as method,
        label,
        label_basis,
        confidence,
        is_tie
    from int_item_labels_aggregated
),

dawid_skene_posteriors as (
    select
        task_name,
        item_key,
        label,
        probability
    from int_dawid_skene_fitted
    where component = 'posterior'
),

dawid_skene_top as (
    select
        task_name,
        item_key,
        max(probability, 2) as top_two_probabilities,
        arg_max(label, probability) as top_label
    from dawid_skene_posteriors
    group by task_name, item_key
),

dawid_skene as (
    select
        dawid_skene_top.task_name,
        dawid_skene_top.item_key,
        'dawid_skene' as method,
        -- Two classes with the same posterior (to 1e-12) are a tie: no label, as for majority vote.
        coalesce(
            dawid_skene_top.top_two_probabilities[1]
            - dawid_skene_top.top_two_probabilities[2] <= 1e-12,
            false
        ) as is_tie,
        dawid_skene_top.top_two_probabilities[1] as confidence,
        dawid_skene_top.top_label,
        {%- if var('gold_overrides_consensus') %}
            -- The fit fixed the posterior of gold items to their gold label.
            int_item_labels_aggregated.gold_label is not null as is_gold
        {%- else %}
            false as is_gold
        {%- endif %}
    from dawid_skene_top
    inner join int_item_labels_aggregated
        on
            dawid_skene_top.task_name = int_item_labels_aggregated.task_name
            and dawid_skene_top.item_key = int_item_labels_aggregated.item_key
),

methods as (
    select * from majority_vote
    union all by name
    select
        task_name,
        item_key,
        method,
        case when not is_tie then top_label end as label,
        case
            when is_gold then 'gold'
            when not is_tie then 'posterior'
        end as label_basis,
        confidence,
        is_tie
    from dawid_skene
),

final as (
    select
        methods.task_name,
        methods.item_key,
        int_item_labels_aggregated.item_hash,
        methods.method,
        methods.label,
        methods.label_basis,
        methods.confidence,
        int_item_labels_aggregated.votes,
        methods.is_tie,
        document_hashes.content_hash is not null as has_document,
        int_item_labels_aggregated.last_voted_at,
        int_item_labels_aggregated.last_extracted_at
    from methods
    inner join int_item_labels_aggregated
        on
            methods.task_name = int_item_labels_aggregated.task_name
            and methods.item_key = int_item_labels_aggregated.item_key
    left join document_hashes
        on int_item_labels_aggregated.item_hash = document_hashes.content_hash
)

select * from final
