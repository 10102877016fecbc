with

stg_refinery__sync_log as (
    select * from {{ ref('stg_refinery__sync_log') }}
),

int_documents_deduplicated as (
    select * from {{ ref('int_documents_deduplicated') }}
),

sync_totals as (
    select
        source_name,
        sum(records_landed) as records_landed,
        sum(records_quarantined) as records_quarantined
    from stg_refinery__sync_log
    group by source_name
),

document_totals as (
    select
        source_name,
        sum(versions_count - 1) as superseded,
        count(*) filter (where drop_reason = 'empty_text') as empty_text,
        count(*) filter (where drop_reason = 'too_short') as too_short,
        count(*) filter (where drop_reason = 'exact_duplicate') as exact_duplicate,
        count(*) filter (where is_kept) as kept
    from int_documents_deduplicated
    group by source_name
),

all_sources as (
    select source_name from sync_totals
    union
    select source_name from document_totals
),

source_outcomes as (
    select
        all_sources.source_name,
        'ingested' as outcome,
        'ingested' as reason,
        coalesce(sync_totals.records_landed, 0) as records
    from all_sources
    left join sync_totals
        on all_sources.source_name = sync_totals.source_name
    union all
    select
        all_sources.source_name,
        'quarantined' as outcome,
        'quarantined' as reason,
        coalesce(sync_totals.records_quarantined, 0) as records
    from all_sources
    left join sync_totals
        on all_sources.source_name = sync_totals.source_name
),

document_outcomes as (
    select
        document_totals.source_name,
        outcome_reason.outcome,
        outcome_reason.reason,
        case outcome_reason.reason
            when 'superseded' then document_totals.superseded
            when 'empty_text' then document_totals.empty_text
            when 'too_short' then document_totals.too_short
            when 'exact_duplicate' then document_totals.exact_duplicate
            when 'kept' then document_totals.kept
        end as records
    from document_totals
    cross join (
        values
        ('superseded', 'superseded'),
        ('dropped', 'empty_text'),
        ('dropped', 'too_short'),
        ('duplicate', 'exact_duplicate'),
        ('kept', 'kept')
    ) as outcome_reason (outcome, reason)
),

final as (
    select
        '{{ invocation_id }}' as run_id,
        source_name,
        outcome,
        reason,
        records::bigint as records,
        '{{ run_started_at.isoformat() }}'::timestamp with time zone as computed_at
    from (
        select * from source_outcomes
        union all
        select * from document_outcomes
    ) as outcomes
)

select * from final
