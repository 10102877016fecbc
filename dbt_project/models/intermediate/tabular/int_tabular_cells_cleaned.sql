{{ config(materialized='table') }}

with

cells as (
    select * from {{ ref('stg_refinery__tabular_cells') }}
),

declarations as (
    {{ tabular_declarations_select() }}
),

declared_cells as (
    select
        cells.*,
        declarations.is_numeric,
        declarations.missing_policy,
        declarations.fill_value,
        declarations.outlier_method,
        declarations.outlier_parameter,
        cells.is_missing_raw or cells.is_coercion_failure as is_missing
    from cells
    inner join declarations
        on
            cells.source_name = declarations.source_name
            and cells.stream_name = declarations.stream_name
            and cells.column_name = declarations.column_name
),

marked as (
    select
        * exclude (has_missing_required_value),
        has_missing_required_value as is_row_dropped
    from declared_cells
),

-- Statistics, imputed values and outlier fences use only observed values of kept records.
observed as (
    select * from marked
    where not is_row_dropped and not is_missing
),

central_values as (
    select
        source_name,
        stream_name,
        column_name,
        median(value_number) as median_value,
        avg(value_number) as mean_value,
        quantile_cont(value_number, 0.25) as first_quartile,
        quantile_cont(value_number, 0.75) as third_quartile
    from observed
    where is_numeric and (missing_policy in ('impute_median', 'impute_mean') or outlier_method != 'none')
    group by source_name, stream_name, column_name
),

deviations as (
    select
        observed.source_name,
        observed.stream_name,
        observed.column_name,
        median(abs(observed.value_number - central_values.median_value)) as median_absolute_deviation,
        avg(abs(observed.value_number - central_values.median_value)) as mean_absolute_deviation
    from observed
    inner join central_values
        on
            observed.source_name = central_values.source_name
            and observed.stream_name = central_values.stream_name
            and observed.column_name = central_values.column_name
    where observed.outlier_method = 'robust_z'
    group by observed.source_name, observed.stream_name, observed.column_name
),

-- The most frequent observed value; ties go to the smallest (numerically, then as text).
modes as (
    select
        source_name,
        stream_name,
        column_name,
        value_text as mode_value
    from observed
    where missing_policy = 'impute_mode'
    group by source_name, stream_name, column_name, value_text, value_number
    qualify row_number() over (
        partition by source_name, stream_name, column_name
        order by count(*) desc, value_number asc nulls last, value_text asc
    ) = 1
),

column_statistics as (
    select
        declarations.source_name,
        declarations.stream_name,
        declarations.column_name,
        declarations.is_numeric,
        declarations.missing_policy,
        declarations.fill_value,
        declarations.outlier_method,
        declarations.outlier_parameter,
        central_values.median_value,
        central_values.mean_value,
        central_values.first_quartile,
        central_values.third_quartile,
        modes.mode_value,
        -- The robust z-score's unit: MAD / 0.6745, or 1.253314 * mean absolute deviation when MAD = 0.
        case
            when deviations.median_absolute_deviation > 0
                then deviations.median_absolute_deviation / 0.6745
            else 1.253314 * deviations.mean_absolute_deviation
        end as robust_scale
    from declarations
    left join central_values
        on
            declarations.source_name = central_values.source_name
            and declarations.stream_name = central_values.stream_name
            and declarations.column_name = central_values.column_name
    left join deviations
        on
            declarations.source_name = deviations.source_name
            and declarations.stream_name = deviations.stream_name
            and declarations.column_name = deviations.column_name
    left join modes
        on
            declarations.source_name = modes.source_name
            and declarations.stream_name = modes.stream_name
            and declarations.column_name = modes.column_name
),

-- The replacement in the column's own type (an integer column imputes an integer) and the
-- outlier fences: Tukey's Q1 - k*IQR, Q3 + k*IQR, or median -/+ threshold * robust_scale.
replacements as (
    select
        *,
        {{ tabular_value_in_declared_type(
            text_expression="case missing_policy when 'fill' then fill_value when 'impute_mode' then mode_value end",
            number_expression="case missing_policy when 'impute_median' then median_value "
                ~ "when 'impute_mean' then mean_value end"
        ) }} as replacement_value,
        case outlier_method
            when 'iqr' then first_quartile - outlier_parameter * (third_quartile - first_quartile)
            when 'robust_z' then median_value - outlier_parameter * robust_scale
        end as outlier_lower_bound,
        case outlier_method
            when 'iqr' then third_quartile + outlier_parameter * (third_quartile - first_quartile)
            when 'robust_z' then median_value + outlier_parameter * robust_scale
        end as outlier_upper_bound
    from column_statistics
),

cleaned as (
    select
        marked.source_name,
        marked.stream_name,
        marked.record_key,
        marked.extracted_at,
        marked.column_name,
        marked.missing_policy,
        marked.raw_value,
        marked.is_missing_raw,
        marked.is_coercion_failure,
        marked.is_missing,
        marked.is_row_dropped,
        coalesce(
            not marked.is_row_dropped and marked.is_missing and replacements.replacement_value is not null,
            false
        ) as is_filled,
        case
            when marked.is_row_dropped or not marked.is_missing then marked.value_text
            else replacements.replacement_value
        end as value_text,
        case
            when marked.is_row_dropped or not marked.is_missing then marked.value_number
            when marked.is_numeric then replacements.replacement_value::double
        end as value_number,
        replacements.replacement_value,
        marked.outlier_method,
        marked.outlier_parameter,
        replacements.outlier_lower_bound,
        replacements.outlier_upper_bound,
        coalesce(
            marked.outlier_method != 'none'
            and not marked.is_row_dropped
            and not marked.is_missing
            and case marked.outlier_method
                when 'iqr'
                    then
                        marked.value_number < replacements.outlier_lower_bound
                        or marked.value_number > replacements.outlier_upper_bound
                when 'robust_z'
                    then
                        abs(marked.value_number - replacements.median_value)
                        > replacements.outlier_parameter * replacements.robust_scale
            end,
            false
        ) as is_outlier
    from marked
    inner join replacements
        on
            marked.source_name = replacements.source_name
            and marked.stream_name = replacements.stream_name
            and marked.column_name = replacements.column_name
),

final as (
    select * from cleaned
)

select * from final
