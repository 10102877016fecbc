{#- Tabular streams: coercion of raw cells and the wide cleaned model (docs/cleaning/tabular.md). -#}

{#- The missing tokens (var tabular_missing_tokens) as a SQL list for `in (...)`. -#}
{% macro tabular_missing_token_list() -%}
    {%- set tokens = var('tabular_missing_tokens', []) or [] -%}
    {%- if tokens | length == 0 -%}
        null
    {%- else -%}
        {%- for token in tokens -%}
            {{ sql_string_literal(token) }}{{ ", " if not loop.last }}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#-
    `raw` (varchar) coerced to `sql_type`: try_cast, so a bad value becomes NULL instead of
    failing the build; timestamptz through to_utc_timestamp (naive values read as UTC).
-#}
{% macro tabular_try_coerce(raw, sql_type) -%}
    {%- if sql_type == 'varchar' -%}
        {{ raw }}
    {%- elif sql_type == 'timestamp with time zone' -%}
        {{ to_utc_timestamp('trim(' ~ raw ~ ')') }}
    {%- else -%}
        try_cast(trim({{ raw }}) as {{ sql_type }})
    {%- endif -%}
{%- endmacro %}

{#-
    A predicate: the non-missing `raw` could not be represented in `sql_type`. Besides a
    failed cast, a number that an integer or decimal type would round ('3.7' as integer,
    '12.345' as decimal(18, 2)) and a non-finite double ('inf', '-inf') are failures: no
    value is changed silently.
-#}
{% macro tabular_coercion_failed(raw, typed, sql_type) -%}
    {%- if sql_type == 'varchar' -%}
        false
    {%- elif sql_type in ['double', 'float'] -%}
        ({{ typed }} is null or not isfinite({{ typed }}))
    {%- elif tabular_is_numeric(sql_type) -%}
        ({{ typed }} is null or try_cast(trim({{ raw }}) as double) is distinct from {{ typed }}::double)
    {%- else -%}
        ({{ typed }} is null)
    {%- endif -%}
{%- endmacro %}

{#-
    One select per declared column of the configured streams present in the raw layer,
    unioned: the latest version of each record (by the stream's cursor, then extraction
    time, then raw id, as staging does), one row per record and column, with the raw value
    and its coercion. Streams are found in raw._refinery_streams at execution time; a
    declared stream that has not landed yet contributes no rows. With none, a typed empty
    select. Columns: source_name, stream_name, record_key, extracted_at, column_name,
    target_type, raw_value, is_missing_raw, is_coercion_failure, value_text, value_number,
    has_missing_required_value (the record lacks a value in a `drop_row` column, computed
    here, once per record, so the cleaning model needs no second pass to find dropped rows).
-#}
{% macro tabular_raw_cells() -%}
    {%- set declarations = tabular_declarations() -%}
    {%- set streams = [] -%}
    {%- if execute and declarations | length > 0 -%}
        {%- set catalog = source('refinery', '_refinery_streams') -%}
        {%- set catalog_exists = adapter.get_relation(
            database=catalog.database, schema=catalog.schema, identifier=catalog.identifier
        ) -%}
        {%- if catalog_exists is not none -%}
            {%- set pairs = [] -%}
            {%- for d in declarations -%}
                {%- set pair = '(' ~ sql_string_literal(d.source_name) ~ ', ' ~ sql_string_literal(d.stream_name) ~ ')' -%}
                {%- if pair not in pairs -%}{%- do pairs.append(pair) -%}{%- endif -%}
            {%- endfor -%}
            {%- set catalog_query -%}
                select
                    streams.source_name,
                    streams.stream_name,
                    streams.table_name,
                    streams.primary_key,
                    streams.cursor_field
                from {{ catalog }} as streams
                where (streams.source_name, streams.stream_name) in ({{ pairs | join(', ') }})
                    and exists (
                        select 1
                        from information_schema.tables as tables
                        where tables.table_catalog = {{ sql_string_literal(catalog.database) }}
                            and tables.table_schema = {{ sql_string_literal(catalog.schema) }}
                            and tables.table_name = streams.table_name
                    )
                order by streams.source_name, streams.stream_name
            {%- endset -%}
            {%- for row in run_query(catalog_query).rows -%}
                {%- if not modules.re.match('^[a-z][a-z0-9_]*$', row['table_name'] | string) -%}
                    {{ exceptions.raise_compiler_error(
                        "raw._refinery_streams: table_name '" ~ row['table_name'] ~ "' of stream "
                        ~ row['source_name'] ~ "." ~ row['stream_name']
                        ~ " does not match ^[a-z][a-z0-9_]*$; fix the catalog row (ingestion validates names)."
                    ) }}
                {%- endif -%}
                {%- do streams.append(row) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}

    {%- if streams | length == 0 %}
    select
        null::varchar as source_name,
        null::varchar as stream_name,
        null::varchar as record_key,
        null::timestamp with time zone as extracted_at,
        null::varchar as column_name,
        null::varchar as target_type,
        null::varchar as raw_value,
        null::boolean as is_missing_raw,
        null::boolean as is_coercion_failure,
        null::varchar as value_text,
        null::double as value_number,
        null::boolean as has_missing_required_value
    where false
    {%- endif %}
    {%- for stream in streams %}
        {%- set stream_loop = loop %}
        {%- set columns = [] %}
        {%- for d in declarations if d.source_name == stream['source_name'] and d.stream_name == stream['stream_name'] %}
            {%- do columns.append(d) %}
        {%- endfor %}
    select
        {{ sql_string_literal(stream['source_name']) }}::varchar as source_name,
        {{ sql_string_literal(stream['stream_name']) }}::varchar as stream_name,
        record_key,
        extracted_at,
        unnest([
        {%- for d in columns %}
            {%- set i = loop.index %}
            {
                column_name: {{ sql_string_literal(d.column_name) }},
                target_type: {{ sql_string_literal(d.sql_type) }},
                raw_value: raw_{{ i }},
                is_missing_raw: is_missing_{{ i }},
                is_coercion_failure: is_failed_{{ i }},
                value_text: case when not is_missing_{{ i }} and not is_failed_{{ i }} then typed_{{ i }}::varchar end,
                value_number: {% if d.is_numeric -%}
                    case when not is_missing_{{ i }} and not is_failed_{{ i }} then typed_{{ i }}::double end
                {%- else -%}
                    null::double
                {%- endif %}
            }{{ "," if not loop.last }}
        {%- endfor %}
        ], recursive := true),
        {%- set required = [] %}
        {%- for d in columns %}
            {%- if d.missing_policy == 'drop_row' %}
                {%- do required.append('is_missing_' ~ loop.index ~ ' or is_failed_' ~ loop.index) %}
            {%- endif %}
        {%- endfor %}
        {{ required | join(' or ') if required else 'false' }} as has_missing_required_value
    from (
        -- coercion failure: a present value that is not a value of the declared type
        select
            *,
        {%- for d in columns %}
            not is_missing_{{ loop.index }}
            and {{ tabular_coercion_failed('raw_' ~ loop.index, 'typed_' ~ loop.index, d.sql_type) }}
                as is_failed_{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
        from (
            select
                record_key,
                extracted_at,
            {%- for d in columns %}
                raw_{{ loop.index }},
                raw_{{ loop.index }} is null
                or trim(raw_{{ loop.index }}) in ({{ tabular_missing_token_list() }}) as is_missing_{{ loop.index }},
                {{ tabular_try_coerce('raw_' ~ loop.index, d.sql_type) }} as typed_{{ loop.index }}{{ "," if not loop.last }}
            {%- endfor %}
            from (
                -- the latest version of each record, one extraction per declared field
                select
                    coalesce({{ _raw_stream_field(stream['primary_key']) }}, md5(_airbyte_data::varchar)) as record_key,
                    _airbyte_extracted_at::timestamp with time zone as extracted_at,
                {%- for d in columns %}
                    (_airbyte_data ->> {{ tabular_json_path(d.field_keys) }})::varchar as raw_{{ loop.index }}{{ "," if not loop.last }}
                {%- endfor %}
                from {{ adapter.quote(catalog.database) }}.{{ adapter.quote(catalog.schema) }}.{{ adapter.quote(stream['table_name']) }}
                qualify row_number() over (
                    partition by record_key
                    order by {{ latest_version_order(
                        _raw_stream_field(stream['cursor_field']), '_airbyte_extracted_at', '_airbyte_raw_id'
                    ) }}
                ) = 1
            ) as latest
        ) as typed
    ) as checked
        {%- if not stream_loop.last %}
    union all
        {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#-
    The cleaned wide table of one declared stream, read from int_tabular_cells_cleaned:
    one row per record not dropped by a `drop_row` column, `record_key` and `extracted_at`,
    then per declared column `<column>` in its declared type, `<column>_raw` (the value as
    landed, for columns that are not varchar), `<column>_is_filled` (fill or impute
    policies) and `<column>_is_outlier` (columns with an outlier method).
-#}
{% macro tabular_cleaned_stream(source_name, stream_name) -%}
    {%- set columns = [] -%}
    {%- for d in tabular_declarations() if d.source_name == source_name and d.stream_name == stream_name -%}
        {%- do columns.append(d) -%}
    {%- endfor -%}
    {#- dbt also renders disabled models while parsing (shop without the shop source), so
        a stream without declarations is an error only when the model is compiled. -#}
    {%- if columns | length == 0 and not execute -%}
        select record_key from {{ ref('int_tabular_cells_cleaned') }}
        {{ return('') }}
    {%- elif columns | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "tabular_cleaned_stream('" ~ source_name ~ "', '" ~ stream_name ~ "'): var tabular_columns declares no "
            ~ "column for this stream (or source " ~ source_name ~ " is not in var refinery_sources); declare "
            ~ "its columns or delete the model"
        ) }}
    {%- endif %}
with

cells as (
    select *
    from {{ ref('int_tabular_cells_cleaned') }}
    where source_name = {{ sql_string_literal(source_name) }}
        and stream_name = {{ sql_string_literal(stream_name) }}
        and not is_row_dropped
),

pivoted as (
    select
        record_key,
        max(extracted_at) as extracted_at,
    {%- for d in columns %}
        max(value_text) filter (where column_name = {{ sql_string_literal(d.column_name) }})::{{ d.sql_type }}
            as {{ adapter.quote(d.column_name) }},
        {%- if d.sql_type != 'varchar' %}
        max(raw_value) filter (where column_name = {{ sql_string_literal(d.column_name) }})
            as {{ adapter.quote(d.column_name ~ '_raw') }},
        {%- endif %}
        {%- if d.missing_policy not in ['keep', 'drop_row'] %}
        coalesce(bool_or(is_filled) filter (where column_name = {{ sql_string_literal(d.column_name) }}), false)
            as {{ adapter.quote(d.column_name ~ '_is_filled') }},
        {%- endif %}
        {%- if d.outlier_method != 'none' %}
        coalesce(bool_or(is_outlier) filter (where column_name = {{ sql_string_literal(d.column_name) }}), false)
            as {{ adapter.quote(d.column_name ~ '_is_outlier') }},
        {%- endif %}
    {%- endfor %}
    from cells
    group by record_key
),

final as (
    select * from pivoted
)

select * from final
{%- endmacro %}

{#-
    The text of a fill or imputed value in each column's declared type: a CASE over the
    declared columns casting `number_expression` (a double: the median or mean) for
    `impute: median|mean`, else `text_expression` (the fill value or the mode), to the type
    and back to varchar. An imputed median of an integer column is therefore an integer
    (a double cast to an integer rounds half to even), and a fill value that is not a value
    of its type stops the build with DuckDB's conversion error.
-#}
{% macro tabular_value_in_declared_type(text_expression, number_expression) -%}
    {%- set declarations = tabular_declarations() -%}
    {%- if declarations | length == 0 -%}
        null::varchar
    {%- else -%}
    case
        {%- for d in declarations %}
        when source_name = {{ sql_string_literal(d.source_name) }}
            and stream_name = {{ sql_string_literal(d.stream_name) }}
            and column_name = {{ sql_string_literal(d.column_name) }}
            {%- if d.missing_policy in ['impute_median', 'impute_mean'] %}
            then ({{ number_expression }})::{{ d.sql_type }}::varchar
            {%- else %}
            then ({{ text_expression }})::{{ d.sql_type }}::varchar
            {%- endif %}
        {%- endfor %}
    end
    {%- endif -%}
{%- endmacro %}
