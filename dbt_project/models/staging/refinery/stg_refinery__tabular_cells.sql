-- depends_on: {{ source('refinery', '_refinery_streams') }}

with

raw_cells as (
    {{ tabular_raw_cells() }}
),

final as (
    select
        source_name,
        stream_name,
        record_key,
        extracted_at,
        column_name,
        target_type,
        raw_value,
        is_missing_raw,
        is_coercion_failure,
        value_text,
        value_number,
        has_missing_required_value
    from raw_cells
)

select * from final
