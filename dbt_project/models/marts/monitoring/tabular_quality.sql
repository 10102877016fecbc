with

cells as (
    select * from {{ ref('int_tabular_cells_cleaned') }}
),

declarations as (
    {{ tabular_declarations_select() }}
),

per_column as (
    select
        source_name,
        stream_name,
        column_name,
        count(*) as rows_total,
        count(*) filter (where is_row_dropped) as rows_dropped,
        count(*) filter (where missing_policy = 'drop_row' and is_missing) as rows_dropped_by_column,
        count(*) filter (where is_missing) as missing_before,
        count(*) filter (where is_missing_raw) as missing_in_source,
        count(*) filter (where is_coercion_failure) as coercion_failures,
        count(*) filter (where is_filled) as filled,
        count(*) filter (where not is_row_dropped and value_text is null) as missing_after,
        count(*) filter (where is_outlier) as outliers,
        any_value(replacement_value) as replacement_value,
        any_value(outlier_lower_bound) as outlier_lower_bound,
        any_value(outlier_upper_bound) as outlier_upper_bound,
        min(value_number) filter (where not is_row_dropped and not is_missing) as min_value,
        median(value_number) filter (where not is_row_dropped and not is_missing) as median_value,
        max(value_number) filter (where not is_row_dropped and not is_missing) as max_value
    from cells
    group by source_name, stream_name, column_name
),

final as (
    select
        declarations.source_name,
        declarations.stream_name,
        declarations.column_name,
        declarations.column_position,
        declarations.target_type,
        declarations.missing_policy,
        declarations.outlier_method,
        declarations.outlier_parameter,
        coalesce(per_column.rows_total, 0) as rows_total,
        coalesce(per_column.rows_dropped, 0) as rows_dropped,
        coalesce(per_column.rows_total - per_column.rows_dropped, 0) as rows_kept,
        coalesce(per_column.rows_dropped_by_column, 0) as rows_dropped_by_column,
        coalesce(per_column.missing_before, 0) as missing_before,
        coalesce(per_column.missing_in_source, 0) as missing_in_source,
        coalesce(per_column.coercion_failures, 0) as coercion_failures,
        coalesce(per_column.filled, 0) as filled,
        coalesce(per_column.missing_after, 0) as missing_after,
        per_column.replacement_value,
        coalesce(per_column.outliers, 0) as outliers,
        per_column.outlier_lower_bound,
        per_column.outlier_upper_bound,
        per_column.min_value,
        per_column.median_value,
        per_column.max_value
    from declarations
    left join per_column
        on
            declarations.source_name = per_column.source_name
            and declarations.stream_name = per_column.stream_name
            and declarations.column_name = per_column.column_name
)

select * from final
