-- depends_on: {{ source('refinery', '_refinery_streams') }}

with

raw_documents as (
    {{ union_raw_streams(role='documents') }}
),

keyed as (
    select
        source_name,
        stream_name,
        coalesce(primary_key_value, md5(_airbyte_data::varchar)) as source_key,
        group_value,
        text_value as raw_text,
        _airbyte_data ->> 'title' as title,
        cursor_value,
        _airbyte_extracted_at as extracted_at,
        _airbyte_raw_id as airbyte_raw_id
    from raw_documents
),

versioned as (
    select
        *,
        min(extracted_at) over (
            partition by source_name, stream_name, source_key
        ) as first_extracted_at,
        count(*) over (
            partition by source_name, stream_name, source_key
        ) as versions_count
    from keyed
    qualify row_number() over (
        partition by source_name, stream_name, source_key
        order by {{ latest_version_order('cursor_value', 'extracted_at', 'airbyte_raw_id') }}
    ) = 1
),

final as (
    select
        md5(source_name || ':' || stream_name || ':' || source_key) as document_id,
        source_name,
        stream_name,
        source_key,
        coalesce(group_value, source_key) as group_key,
        raw_text,
        title,
        extracted_at,
        first_extracted_at,
        versions_count
    from versioned
)

select * from final
