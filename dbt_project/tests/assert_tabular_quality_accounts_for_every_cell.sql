-- A returned row is a column of marts.tabular_quality whose counts do not add up: a cell or
-- a record was lost, or counted twice, between landing and the cleaned table. The counts are
-- recomputed from int_tabular_cells_cleaned so the mart cannot drift from the cells.

with

quality as (
    select * from {{ ref('tabular_quality') }}
),

cells as (
    select * from {{ ref('int_tabular_cells_cleaned') }}
),

missing_in_dropped as (
    select
        source_name,
        stream_name,
        column_name,
        count(*) filter (where is_row_dropped and is_missing) as missing_cells
    from cells
    group by source_name, stream_name, column_name
),

checked as (
    select
        quality.*,
        coalesce(missing_in_dropped.missing_cells, 0) as missing_in_dropped_rows
    from quality
    left join missing_in_dropped
        on
            quality.source_name = missing_in_dropped.source_name
            and quality.stream_name = missing_in_dropped.stream_name
            and quality.column_name = missing_in_dropped.column_name
),

final as (
    select *
    from checked
    where
        rows_total != rows_kept + rows_dropped
        or missing_before != missing_in_source + coercion_failures
        or filled + missing_after != missing_before - missing_in_dropped_rows
        or (missing_policy = 'drop_row' and missing_after != 0)
        or (missing_policy in ('keep', 'drop_row') and filled != 0)
        or (outlier_method = 'none' and outliers != 0)
        or outliers > rows_kept
)

select * from final
