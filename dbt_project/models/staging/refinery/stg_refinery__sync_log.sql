with

source as (
    select * from {{ source('refinery', '_refinery_sync_log') }}
),

final as (
    select
        sync_id::varchar as sync_id,
        source_name::varchar as source_name,
        stream_name::varchar as stream_name,
        started_at::timestamp with time zone as started_at,
        ended_at::timestamp with time zone as ended_at,
        coalesce(records_read, 0)::bigint as records_read,
        coalesce(records_landed, 0)::bigint as records_landed,
        coalesce(records_quarantined, 0)::bigint as records_quarantined,
        coalesce(bytes_read, 0)::bigint as bytes_read,
        status::varchar as status,
        error::varchar as error_message
    from source
    where {{ is_configured_source('source_name') }}
)

select * from final
