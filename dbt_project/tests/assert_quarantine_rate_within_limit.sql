-- A returned row is a source whose quarantined share of everything read (over all its
-- syncs) exceeds var('max_quarantined_fraction'). Quarantined records are kept, not lost,
-- but a source where that many records fail to parse is broken upstream (wrong format,
-- truncated export, schema change): publishing a release built from the rest would hide
-- it. This test is error-severity, so it blocks the release until the source is fixed or
-- the threshold is raised on purpose.

with

sync_log as (
    select * from {{ ref('stg_refinery__sync_log') }}
),

rates as (
    select
        source_name,
        sum(records_read) as records_read,
        sum(records_quarantined) as records_quarantined,
        sum(records_quarantined) / nullif(sum(records_read), 0) as quarantined_fraction
    from sync_log
    group by source_name
),

final as (
    select
        source_name,
        records_read,
        records_quarantined,
        quarantined_fraction
    from rates
    where quarantined_fraction > {{ var('max_quarantined_fraction') }}
)

select * from final
