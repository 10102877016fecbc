-- depends_on: {{ source('refinery', '_refinery_streams') }}

with

-- The annotated text: `data.<text_field>` of a Label Studio task; `fields.<text_field>` of an
-- Argilla record (nested export), else the top-level key (flattened export); a CSV column.
raw_tasks as (
    {{ union_raw_streams(
        role='annotations',
        text_parent={'label_studio': '$.data', 'argilla': ['$.fields', '$'], '*': '$'}
    ) }}
),

keyed as (
    select
        source_name,
        stream_name,
        kind,
        coalesce(primary_key_value, md5(_airbyte_data::varchar)) as task_id,
        _airbyte_data as task_json,
        text_value as item_text,
        cursor_value,
        _airbyte_extracted_at as extracted_at,
        _airbyte_raw_id as airbyte_raw_id
    from raw_tasks
),

latest as (
    select *
    from keyed
    qualify row_number() over (
        partition by source_name, stream_name, task_id
        order by {{ latest_version_order('cursor_value', 'extracted_at', 'airbyte_raw_id') }}
    ) = 1
),

final as (
    select
        source_name,
        stream_name,
        kind,
        task_id,
        task_json,
        item_text,
        extracted_at
    from latest
)

select * from final
