-- The labels labeling functions are measured against (docs/labeling/weak-supervision.md): per
-- task and kept document, the item's gold label (its latest counted gold vote), else the human
-- consensus (both from int_item_labels_aggregated; NULL on a tie, so a tied document has no
-- reference). Documents and items join on content
-- (content_hash = item_hash), as training_examples does. Only documents of the sources a task
-- covers (var weak_supervision_sources).
with

int_documents_deduplicated as (
    select * from {{ ref('int_documents_deduplicated') }}
),

int_item_labels_aggregated as (
    select * from {{ ref('int_item_labels_aggregated') }}
),

kept_documents as (
    select
        document_id,
        source_name,
        content_hash
    from int_documents_deduplicated
    where is_kept and content_hash is not null
),

reference_labels as (
    -- The gold label as consensus defines it (the item's latest counted gold vote), else the
    -- vote's label; both from int_item_labels_aggregated, whatever gold_overrides_consensus says.
    select
        task_name,
        item_hash,
        coalesce(gold_label, label) as reference_label,
        case when gold_label is not null then 'gold' else 'consensus' end as reference_source
    from int_item_labels_aggregated
    where coalesce(gold_label, label) is not null and item_hash is not null
),

final as (
    select
        reference_labels.task_name,
        kept_documents.document_id,
        reference_labels.reference_label,
        reference_labels.reference_source
    from kept_documents
    inner join reference_labels
        on kept_documents.content_hash = reference_labels.item_hash
    where {{ weak_supervision_scope('reference_labels.task_name', 'kept_documents.source_name') }}
)

select * from final
