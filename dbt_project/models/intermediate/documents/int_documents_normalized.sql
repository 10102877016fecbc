{{ config(materialized='table') }}

with

stg_refinery__documents as (
    select * from {{ ref('stg_refinery__documents') }}
),

normalized as (
    select
        document_id,
        source_name,
        stream_name,
        source_key,
        first_extracted_at,
        versions_count,
        raw_text,
        {{ normalize_text('raw_text') }} as normalized_text
    from stg_refinery__documents
),

final as (
    select
        *,
        {{ text_hash('normalized_text') }} as content_hash,
        coalesce(length(normalized_text), 0) as text_chars
    from normalized
)

select * from final
