{{ config(tags=['cleaning']) }}

-- Every document that has an exact or near duplicate, with its cluster and representative
-- (int_document_clusters explains the choice).
with

int_document_clusters as (
    select * from {{ ref('int_document_clusters') }}
),

final as (
    select
        document_id,
        source_name,
        stream_name,
        source_key,
        cluster_id,
        representative_document_id,
        match_type,
        cluster_size::integer as cluster_size
    from int_document_clusters
)

select * from final
order by cluster_id, document_id
