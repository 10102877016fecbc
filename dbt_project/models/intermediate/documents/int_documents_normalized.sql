-- sqlfluff:ignore:parsing
-- (normalize_text nests regexp_replace past sqlfluff's parse depth; dbt compiles and tests it)
{{
    config(
        materialized='incremental',
        unique_key='document_id',
        incremental_strategy='delete+insert',
        tags=['cleaning'],
    )
}}

with

stg_refinery__documents as (
    select * from {{ ref('stg_refinery__documents') }}
    {% if is_incremental() %}
        -- Only documents whose latest version arrived after the last build (a new version
        -- replaces the document's row: unique_key document_id, delete+insert).
        where {{ newer_than_this_build() }}
    {% endif %}
),

normalized as (
    select
        document_id,
        source_name,
        stream_name,
        source_key,
        extracted_at,
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
        coalesce(length(normalized_text), 0) as text_chars,
        '{{ invocation_id }}' as dbt_invocation_id
    from normalized
)

select * from final
