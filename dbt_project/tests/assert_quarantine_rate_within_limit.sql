-- A returned row is a source whose latest sync that read anything quarantined more than
-- var('max_quarantined_fraction') of what it read. Quarantined records are kept, not lost,
-- but a source where that many records fail to parse is broken upstream (wrong format,
-- truncated export, schema change): publishing a release built from the rest would hide
-- it. Error severity, so it blocks the release. To clear it, fix the input (a changed file
-- is read again and the new sync decides), or raise the threshold on purpose.

with

sync_log as (
    select * from {{ ref('stg_refinery__sync_log') }}
),

syncs as (
    select
        source_name,
        sync_id,
        min(started_at) as started_at,
        sum(records_read) as records_read,
        sum(records_quarantined) as records_quarantined
    from sync_log
    group by source_name, sync_id
    having sum(records_read) > 0
),

latest_syncs as (
    select *
    from syncs
    qualify row_number() over (partition by source_name order by started_at desc, sync_id desc) = 1
),

final as (
    select
        source_name,
        sync_id,
        records_read,
        records_quarantined,
        records_quarantined / records_read as quarantined_fraction
    from latest_syncs
    where records_quarantined / records_read > {{ var('max_quarantined_fraction') }}
)

select * from final
