{{
    config(
        materialized='incremental',
        unique_key='document_id',
        incremental_strategy='delete+insert',
        tags=['cleaning'],
    )
}}

with

int_documents_normalized as (
    select
        document_id,
        extracted_at,
        normalized_text
    from {{ ref('int_documents_normalized') }}
    {% if is_incremental() %}
        where {{ newer_than_this_build() }}
    {% endif %}
),

{{ pii_scan_ctes('int_documents_normalized', 'normalized_text') }},

final as (
    select
        document_id,
        extracted_at,
        {%- for type in pii_types() %}
            cast(pii_{{ type }}_count as integer) as pii_{{ type }}_count,
        {%- endfor %}
        cast(pii_total_count as integer) as pii_total_count,
        pii_redacted_text as redacted_text
    from pii_scanned
)

select * from final
