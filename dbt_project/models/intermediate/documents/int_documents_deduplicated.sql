{{ config(tags=['cleaning']) }}

with

int_documents_normalized as (
    select * from {{ ref('int_documents_normalized') }}
),

int_documents_screened as (
    select * from {{ ref('int_documents_screened') }}
),

int_document_clusters as (
    select * from {{ ref('int_document_clusters') }}
),

final as (
    select
        screened.document_id,
        screened.source_name,
        screened.stream_name,
        screened.source_key,
        screened.first_extracted_at,
        normalized.versions_count,
        normalized.normalized_text,
        screened.content_hash,
        screened.text_chars,
        screened.failed_quality_rules,
        screened.dropping_rules,
        case
            when screened.screen_drop_reason is not null then screened.screen_drop_reason
            when clusters.match_type = 'exact' then 'exact_duplicate'
            when clusters.match_type = 'near' then 'near_duplicate'
        end as drop_reason,
        case
            when screened.screen_drop_reason is not null then null
            else coalesce(clusters.representative_document_id, screened.document_id)
        end as canonical_document_id,
        clusters.cluster_id,
        (
            screened.screen_drop_reason is null
            and coalesce(clusters.match_type, 'representative') = 'representative'
        ) as is_kept
    from int_documents_screened as screened
    inner join int_documents_normalized as normalized
        on screened.document_id = normalized.document_id
    left join int_document_clusters as clusters
        on screened.document_id = clusters.document_id
)

select * from final
