{{ config(tags=['cleaning']) }}

-- Verified near-duplicate pairs, one row per pair, the smaller document_id first.
with

int_document_near_matches as (
    select * from {{ ref('int_document_near_matches') }}
),

final as (
    select
        least(document_id, matched_document_id) as document_id_a,
        greatest(document_id, matched_document_id) as document_id_b,
        jaccard
    from int_document_near_matches
    where matched_document_id is not null
)

select * from final
