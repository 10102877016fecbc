with

source as (
    select * from {{ source('refinery', '_refinery_quarantine') }}
),

final as (
    select
        quarantine_id::varchar as quarantine_id,
        sync_id::varchar as sync_id,
        source_name::varchar as source_name,
        stream_name::varchar as stream_name,
        reason::varchar as reason,
        raw_bytes::blob as raw_bytes,
        octet_length(raw_bytes::blob)::bigint as raw_bytes_length,
        quarantined_at::timestamp with time zone as quarantined_at
    from source
    where {{ is_configured_source('source_name') }}
)

select * from final
