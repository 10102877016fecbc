{#-
    Tabular streams: type coercion, missing-value policies and outlier flags, driven by
    var `tabular_columns` (docs/cleaning/tabular.md):

        tabular_columns:
          <source>:
            <stream>:
              <column>:                       # output column name, ^[a-z_][a-z0-9_]*$
                field: weight                 # JSON key in _airbyte_data (default: <column>);
                                              # a list of keys for a nested value: [address, city]
                type: integer                 # see tabular_sql_type; default varchar
                missing: keep                 # keep | drop_row | {fill: <value>} | {impute: median|mean|mode}
                outliers: iqr                 # none | iqr | robust_z | {method: iqr, k: 3}
                                              #   | {method: robust_z, threshold: 3.0}

    A column given as a plain string (`age: integer`) is `{type: integer}`.
-#}

{#- The SQL type for a declared type name; none when the name is not supported. -#}
{% macro tabular_sql_type(type_name) -%}
    {%- set name = (type_name | string | lower | trim) -%}
    {%- set aliases = {
        'varchar': 'varchar', 'text': 'varchar', 'string': 'varchar',
        'boolean': 'boolean', 'bool': 'boolean',
        'smallint': 'smallint', 'integer': 'integer', 'int': 'integer', 'bigint': 'bigint',
        'hugeint': 'hugeint',
        'double': 'double', 'float': 'double', 'real': 'float',
        'date': 'date', 'timestamp': 'timestamp',
        'timestamptz': 'timestamp with time zone', 'timestamp with time zone': 'timestamp with time zone'
    } -%}
    {%- set decimal = modules.re.match('^(decimal|numeric)\\s*\\(\\s*(\\d+)\\s*,\\s*(\\d+)\\s*\\)$', name) -%}
    {%- if name in aliases -%}
        {{ return(aliases[name]) }}
    {%- elif decimal and (decimal.group(2) | int) >= 1 and (decimal.group(2) | int) <= 38
            and (decimal.group(3) | int) <= (decimal.group(2) | int) -%}
        {{ return('decimal(' ~ decimal.group(2) ~ ', ' ~ decimal.group(3) ~ ')') }}
    {%- else -%}
        {{ return(none) }}
    {%- endif -%}
{%- endmacro %}

{#- True for the SQL types whose values are numbers (median, mean and outliers apply). -#}
{% macro tabular_is_numeric(sql_type) -%}
    {{ return(sql_type in ['smallint', 'integer', 'bigint', 'hugeint', 'double', 'float']
        or sql_type.startswith('decimal(')) }}
{%- endmacro %}

{#- A JSON path literal for a list of nested keys, each quoted and escaped. -#}
{% macro tabular_json_path(keys) -%}
    {%- set parts = [] -%}
    {%- for key in keys -%}
        {%- do parts.append('."' ~ ((key | string) | replace('\\', '\\\\') | replace('"', '\\"')) ~ '"') -%}
    {%- endfor -%}
    {{ sql_string_literal('$' ~ (parts | join(''))) }}
{%- endmacro %}

{#-
    Every declared column of the configured sources (var refinery_sources; all when unset),
    validated, as a list of dicts: source_name, stream_name, column_name, field_keys,
    declared_type, sql_type, is_numeric, missing_policy (keep, drop_row, fill,
    impute_median, impute_mean, impute_mode), fill_value (string or none), outlier_method
    (none, iqr, robust_z), outlier_parameter (k or threshold; none without a method).
    Sorted by source, stream, then declaration order. A wrong declaration stops the
    compilation with a message naming it.
-#}
{% macro tabular_declarations() -%}
    {%- set declared = var('tabular_columns', {}) or {} -%}
    {%- set configured = var('refinery_sources', none) -%}
    {%- set result = [] -%}
    {%- set name_pattern = '^[a-z_][a-z0-9_]*$' -%}
    {%- if declared is not mapping -%}
        {{ exceptions.raise_compiler_error(
            "var tabular_columns must map source → stream → column → declaration; got " ~ declared
        ) }}
    {%- endif -%}
    {%- for source_name in declared | sort -%}
        {%- set streams = declared[source_name] or {} -%}
        {%- if streams is not mapping -%}
            {{ exceptions.raise_compiler_error(
                "var tabular_columns." ~ source_name ~ " must map stream names to columns"
            ) }}
        {%- endif -%}
        {%- if configured is none or source_name in configured -%}
            {%- for stream_name in streams | sort -%}
                {%- set columns = streams[stream_name] or {} -%}
                {%- if columns is not mapping -%}
                    {{ exceptions.raise_compiler_error(
                        "var tabular_columns." ~ source_name ~ "." ~ stream_name
                        ~ " must map column names to declarations"
                    ) }}
                {%- endif -%}
                {%- for column_name, raw_spec in columns.items() -%}
                    {%- set where = "var tabular_columns." ~ source_name ~ "." ~ stream_name ~ "." ~ column_name -%}
                    {%- set spec = raw_spec if raw_spec is mapping else {'type': raw_spec} -%}
                    {%- if not modules.re.match(name_pattern, column_name | string) -%}
                        {{ exceptions.raise_compiler_error(
                            where ~ ": the column name must match " ~ name_pattern ~ " (it becomes a SQL column)"
                        ) }}
                    {%- endif -%}
                    {%- for key in spec -%}
                        {%- if key not in ['field', 'type', 'missing', 'outliers', 'description'] -%}
                            {{ exceptions.raise_compiler_error(
                                where ~ ": unknown key '" ~ key ~ "'; use field, type, missing, outliers, description"
                            ) }}
                        {%- endif -%}
                    {%- endfor -%}

                    {%- set field = spec.get('field', column_name) -%}
                    {%- set field_keys = field if (field is iterable and field is not string) else [field] -%}
                    {%- if field_keys | length == 0 -%}
                        {{ exceptions.raise_compiler_error(where ~ ": field is an empty list") }}
                    {%- endif -%}

                    {%- set declared_type = spec.get('type', 'varchar') or 'varchar' -%}
                    {%- set sql_type = tabular_sql_type(declared_type) -%}
                    {%- if sql_type is none -%}
                        {{ exceptions.raise_compiler_error(
                            where ~ ": type '" ~ declared_type ~ "' is not supported; use varchar, boolean, "
                            ~ "smallint, integer, bigint, hugeint, double, float, decimal(p, s), date, "
                            ~ "timestamp or timestamptz"
                        ) }}
                    {%- endif -%}
                    {%- set is_numeric = tabular_is_numeric(sql_type) -%}

                    {%- set missing = spec.get('missing', 'keep') or 'keep' -%}
                    {%- set fill_value = none -%}
                    {%- if missing is mapping and missing | length == 1 and 'fill' in missing -%}
                        {%- if missing['fill'] is none -%}
                            {{ exceptions.raise_compiler_error(where ~ ": missing.fill needs a value") }}
                        {%- endif -%}
                        {%- set missing_policy = 'fill' -%}
                        {%- set fill_value = (missing['fill'] | string | lower)
                            if missing['fill'] is sameas true or missing['fill'] is sameas false
                            else (missing['fill'] | string) -%}
                    {%- elif missing is mapping and missing | length == 1 and 'impute' in missing -%}
                        {%- set method = missing['impute'] | string | lower -%}
                        {%- if method not in ['median', 'mean', 'mode'] -%}
                            {{ exceptions.raise_compiler_error(
                                where ~ ": missing.impute must be median, mean or mode, not '" ~ method ~ "'"
                            ) }}
                        {%- endif -%}
                        {%- if method in ['median', 'mean'] and not is_numeric -%}
                            {{ exceptions.raise_compiler_error(
                                where ~ ": impute " ~ method ~ " needs a numeric type, not " ~ sql_type
                                ~ "; use impute: mode or fill"
                            ) }}
                        {%- endif -%}
                        {%- set missing_policy = 'impute_' ~ method -%}
                    {%- elif missing is string and missing in ['keep', 'drop_row'] -%}
                        {%- set missing_policy = missing -%}
                    {%- else -%}
                        {{ exceptions.raise_compiler_error(
                            where ~ ": missing must be keep, drop_row, {fill: <value>} or "
                            ~ "{impute: median|mean|mode}, not " ~ missing
                        ) }}
                    {%- endif -%}

                    {%- set outliers = spec.get('outliers', 'none') or 'none' -%}
                    {%- set outlier_spec = outliers if outliers is mapping else {'method': outliers} -%}
                    {%- set outlier_method = (outlier_spec.get('method', 'none') or 'none') | string | lower -%}
                    {%- for key in outlier_spec -%}
                        {%- if key not in ['method', 'k', 'threshold'] -%}
                            {{ exceptions.raise_compiler_error(
                                where ~ ": outliers has unknown key '" ~ key ~ "'; use method, k (iqr), threshold (robust_z)"
                            ) }}
                        {%- endif -%}
                    {%- endfor -%}
                    {%- if outlier_method == 'iqr' -%}
                        {%- if 'threshold' in outlier_spec -%}
                            {{ exceptions.raise_compiler_error(where ~ ": iqr takes k, not threshold") }}
                        {%- endif -%}
                        {%- set outlier_parameter = outlier_spec.get('k', var('tabular_iqr_k')) -%}
                    {%- elif outlier_method == 'robust_z' -%}
                        {%- if 'k' in outlier_spec -%}
                            {{ exceptions.raise_compiler_error(where ~ ": robust_z takes threshold, not k") }}
                        {%- endif -%}
                        {%- set outlier_parameter = outlier_spec.get('threshold', var('tabular_robust_z_threshold')) -%}
                    {%- elif outlier_method == 'none' -%}
                        {%- set outlier_parameter = none -%}
                    {%- else -%}
                        {{ exceptions.raise_compiler_error(
                            where ~ ": outliers must be none, iqr or robust_z, not '" ~ outlier_method ~ "'"
                        ) }}
                    {%- endif -%}
                    {%- if outlier_method != 'none' and not is_numeric -%}
                        {{ exceptions.raise_compiler_error(
                            where ~ ": outlier flags need a numeric type, not " ~ sql_type
                        ) }}
                    {%- endif -%}
                    {%- if outlier_parameter is not none and not (outlier_parameter is number and outlier_parameter > 0) -%}
                        {{ exceptions.raise_compiler_error(
                            where ~ ": the " ~ outlier_method ~ " parameter must be a number > 0, not " ~ outlier_parameter
                        ) }}
                    {%- endif -%}

                    {%- do result.append({
                        'source_name': source_name,
                        'stream_name': stream_name,
                        'column_name': column_name,
                        'field_keys': field_keys,
                        'declared_type': declared_type | string,
                        'sql_type': sql_type,
                        'is_numeric': is_numeric,
                        'missing_policy': missing_policy,
                        'fill_value': fill_value,
                        'outlier_method': outlier_method,
                        'outlier_parameter': outlier_parameter
                    }) -%}
                {%- endfor -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(result) }}
{%- endmacro %}

{#- The declarations as a typed select (no rows when there is none). -#}
{% macro tabular_declarations_select() -%}
    {%- set declarations = tabular_declarations() -%}
    {%- if declarations | length == 0 %}
    select
        null::varchar as source_name,
        null::varchar as stream_name,
        null::varchar as column_name,
        null::integer as column_position,
        null::varchar as target_type,
        null::boolean as is_numeric,
        null::varchar as missing_policy,
        null::varchar as fill_value,
        null::varchar as outlier_method,
        null::double as outlier_parameter
    where false
    {%- else %}
    select
        source_name,
        stream_name,
        column_name,
        column_position,
        target_type,
        is_numeric,
        missing_policy,
        fill_value,
        outlier_method,
        outlier_parameter
    from (
        values
        {%- for d in declarations %}
            (
                {{ sql_string_literal(d.source_name) }},
                {{ sql_string_literal(d.stream_name) }},
                {{ sql_string_literal(d.column_name) }},
                {{ loop.index }},
                {{ sql_string_literal(d.sql_type) }},
                {{ 'true' if d.is_numeric else 'false' }},
                {{ sql_string_literal(d.missing_policy) }},
                {{ sql_string_literal(d.fill_value) }}::varchar,
                {{ sql_string_literal(d.outlier_method) }},
                {{ d.outlier_parameter if d.outlier_parameter is not none else 'null' }}::double
            ){{ "," if not loop.last }}
        {%- endfor %}
    ) as declared (
        source_name,
        stream_name,
        column_name,
        column_position,
        target_type,
        is_numeric,
        missing_policy,
        fill_value,
        outlier_method,
        outlier_parameter
    )
    {%- endif %}
{%- endmacro %}

