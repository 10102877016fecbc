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

document_sources as (
    select distinct source_name from int_documents_deduplicated
),

-- Every (outcome, reason) a document source reports, so a rule that drops nothing still
-- shows with 0. dropped / duplicate / kept / superseded add up to what was ingested (each
-- document counted once, under the FIRST reason that drops it); rule_failed counts every
-- document failing a quality rule, whether or not the rule drops it (var
-- quality_drop_rules), so these overlap.
document_reasons as (
    select
        outcome,
        reason
    from (
        values
        ('superseded', 'superseded'),
        ('dropped', 'empty_text'),
        ('dropped', 'too_short'),
        ('dropped', 'language'),
        ('duplicate', 'exact_duplicate'),
        ('duplicate', 'near_duplicate'),
        ('kept', 'kept')
    ) as fixed_reasons (outcome, reason)  -- noqa: AL05
    union all
    select
        outcome,
        unnest({{ string_list_literal(quality_rule_names()) }}) as reason
    from (values ('dropped'), ('rule_failed')) as rule_outcomes (outcome)  -- noqa: AL05
),

document_counts as (
    select
        source_name,
        case
            when is_kept then 'kept'
            when drop_reason in ('exact_duplicate', 'near_duplicate') then 'duplicate'
            else 'dropped'
        end as outcome,
        coalesce(drop_reason, 'kept') as reason,
        count(*) as records
    from int_documents_deduplicated
    group by all
    union all
    select
        source_name,
        'superseded' as outcome,
        'superseded' as reason,
        sum(versions_count - 1) as records
    from int_documents_deduplicated
    group by all
    union all
    select
        source_name,
        'rule_failed' as outcome,
        reason,
        count(*) as records
    from (
        select
            source_name,
            unnest(failed_quality_rules) as reason
        from int_documents_deduplicated
    ) as failures
    group by all
),

document_outcomes as (
    select
        document_sources.source_name,
        document_reasons.outcome,
        document_reasons.reason,
        coalesce(document_counts.records, 0) as records
    from document_sources
    cross join document_reasons
    left join document_counts
        on
            document_sources.source_name = document_counts.source_name
            and document_reasons.outcome = document_counts.outcome
            and document_reasons.reason = document_counts.reason
),

all_sources as (
    select source_name from sync_totals
    union
    select source_name from document_sources
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
