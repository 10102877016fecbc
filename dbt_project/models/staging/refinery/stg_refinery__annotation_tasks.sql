-- depends_on: {{ source('refinery', '_refinery_streams') }}

with

raw_tasks as (
    {{ union_raw_streams(role='annotations', text_parent='$.data') }}
),

keyed as (
    select
        source_name,
        stream_name,
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
        task_id,
        task_json,
        item_text,
        extracted_at
    from latest
)

select * from final
