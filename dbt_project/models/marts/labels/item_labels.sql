with

int_item_labels_aggregated as (
    select * from {{ ref('int_item_labels_aggregated') }}
),

int_documents_deduplicated as (
    select * from {{ ref('int_documents_deduplicated') }}
),

document_hashes as (
    select distinct content_hash
    from int_documents_deduplicated
    where content_hash is not null
),

final as (
    select
        int_item_labels_aggregated.task_name,
        int_item_labels_aggregated.item_hash,
        'majority_vote' as method,
        int_item_labels_aggregated.label,
        int_item_labels_aggregated.confidence,
        int_item_labels_aggregated.votes,
        int_item_labels_aggregated.is_tie,
        document_hashes.content_hash is not null as has_document
    from int_item_labels_aggregated
    left join document_hashes
        on int_item_labels_aggregated.item_hash = document_hashes.content_hash
)

select * from final
