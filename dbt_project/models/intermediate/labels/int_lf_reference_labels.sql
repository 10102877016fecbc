-- The labels labeling functions are measured against (docs/labeling/weak-supervision.md): per
-- task and kept document, the gold label when an annotator marked a submitted vote as ground
-- truth (the latest such vote), else the human consensus (int_item_labels_aggregated, NULL on a
-- tie, so a tied document has no reference). Documents and items join on content
-- (content_hash = item_hash), as training_examples does. Only documents of the sources a task
-- covers (var weak_supervision_sources).
with

int_documents_deduplicated as (
    select * from {{ ref('int_documents_deduplicated') }}
),

int_label_votes as (
    select * from {{ ref('int_label_votes') }}
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

gold_labels as (
    select
        task_name,
        item_hash,
        label
    from int_label_votes
    where
        is_gold
        and status = 'submitted'
        and task_name is not null
        and label is not null
        and item_hash is not null
    qualify row_number() over (
        partition by task_name, item_hash
        order by updated_at desc nulls last, created_at desc nulls last, vote_id desc
    ) = 1
),

consensus_labels as (
    select
        task_name,
        item_hash,
        label
    from int_item_labels_aggregated
    where label is not null
),

reference_labels as (
    select
        coalesce(gold_labels.task_name, consensus_labels.task_name) as task_name,
        coalesce(gold_labels.item_hash, consensus_labels.item_hash) as item_hash,
        coalesce(gold_labels.label, consensus_labels.label) as reference_label,
        case when gold_labels.label is not null then 'gold' else 'consensus' end as reference_source
    from gold_labels
    full outer join consensus_labels
        on
            gold_labels.task_name = consensus_labels.task_name
            and gold_labels.item_hash = consensus_labels.item_hash
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
