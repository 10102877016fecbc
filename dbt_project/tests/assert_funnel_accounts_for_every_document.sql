-- A returned row is a document source whose records do not add up: the records landed
-- according to the sync log differ from superseded + dropped + duplicate + kept, or the
-- kept count differs from its rows in training_examples. Either a record vanished
-- between raw and the training set, or one was counted twice; "nothing is dropped
-- silently" no longer holds and the funnel cannot be trusted.

with

pipeline_funnel as (
    select * from {{ ref('pipeline_funnel') }}
),

training_examples as (
    select * from {{ ref('training_examples') }}
),

funnel_totals as (
    select
        source_name,
        sum(records) filter (where outcome = 'ingested') as ingested,
        sum(records) filter (
            where outcome in ('superseded', 'dropped', 'duplicate', 'kept')
        ) as accounted,
        sum(records) filter (where outcome = 'kept') as kept,
        count(*) filter (where outcome = 'kept') as kept_rows
    from pipeline_funnel
    group by source_name
),

example_totals as (
    select
        source_name,
        count(*) as examples
    from training_examples
    group by source_name
),

final as (
    select
        funnel_totals.source_name,
        funnel_totals.ingested,
        funnel_totals.accounted,
        funnel_totals.kept,
        coalesce(example_totals.examples, 0) as examples
    from funnel_totals
    left join example_totals
        on funnel_totals.source_name = example_totals.source_name
    where
        funnel_totals.kept_rows > 0
        and (
            funnel_totals.ingested is distinct from funnel_totals.accounted
            or funnel_totals.kept is distinct from coalesce(example_totals.examples, 0)
        )
)

select * from final
