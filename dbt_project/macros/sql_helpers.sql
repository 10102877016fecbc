{#- Small quoting and typing helpers shared by the models. -#}

{#- A Python/Jinja string rendered as a SQL string literal, single quotes doubled. -#}
{% macro sql_string_literal(value) -%}
    {%- if value is none -%}
        null
    {%- else -%}
        '{{ (value | string) | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}

{#-
    A DuckDB JSON path literal selecting the top-level key `field` under `parent`
    ('$' = the document root), e.g. '$."text"' or '$.data."text"'. The key is quoted
    inside the path, so dots, spaces or a leading '$' in a field name stay part of the
    name; backslashes and double quotes are escaped for the path, single quotes for SQL.
-#}
{% macro json_path_literal(field, parent='$') -%}
    {%- set key = (field | string) | replace('\\', '\\\\') | replace('"', '\\"') -%}
    {{ sql_string_literal(parent ~ '."' ~ key ~ '"') }}
{%- endmacro %}

{#-
    A varchar holding an ISO-8601 timestamp, as timestamp with time zone. Strings with an
    offset (`Z`, `+02:00`) keep it; naive strings are read as UTC, whatever the session
    time zone. Unparseable values become NULL instead of failing the whole build.
-#}
{% macro to_utc_timestamp(expression) -%}
    case
        when regexp_matches({{ expression }}, '(?i)\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(z|[+-]\d{2}(:?\d{2})?)$')
            then try_cast({{ expression }} as timestamp with time zone)
        else timezone('UTC', try_cast({{ expression }} as timestamp))
    end
{%- endmacro %}

{#-
    ORDER BY terms putting the newest version of a record first: by its cursor field (a
    varchar taken from JSON, compared as a number, else as a timestamp, else as text),
    then by extraction time, then by raw id so the choice is deterministic.
-#}
{% macro latest_version_order(cursor_value, extracted_at, raw_id) -%}
    try_cast({{ cursor_value }} as double) desc nulls last,
    try_cast({{ cursor_value }} as timestamp with time zone) desc nulls last,
    {{ cursor_value }} desc nulls last,
    {{ extracted_at }} desc,
    {{ raw_id }} desc
{%- endmacro %}

{#-
    A predicate keeping only the sources configured in refinery.yml. `refinery run` passes
    their names as var('refinery_sources'); without the var (a plain `dbt build`) every
    source in the warehouse is kept. A source removed from refinery.yml therefore leaves
    the next release, while its raw tables stay in the warehouse.
-#}
{% macro is_configured_source(column) -%}
    {%- set configured = var('refinery_sources', none) -%}
    {%- if configured is none -%}
        true
    {%- elif configured | length == 0 -%}
        false
    {%- else -%}
        {{ column }} in (
            {%- for name in configured -%}
                {{ sql_string_literal(name) }}{{ ", " if not loop.last }}
            {%- endfor -%}
        )
    {%- endif -%}
{%- endmacro %}

{#- A list of Python/Jinja strings as a DuckDB varchar[] literal (an empty list stays typed). -#}
{% macro string_list_literal(values) -%}
    [{%- for value in values -%}{{ sql_string_literal(value) }}{{ ", " if not loop.last }}{%- endfor -%}]::varchar[]
{%- endmacro %}

{#-
    Every quality rule int_documents_quality and int_documents_repetition can fail, in the
    order the funnel lists them (docs/cleaning/README.md describes each).
-#}
{% macro quality_rule_names() -%}
    {{ return([
        'gopher_word_count', 'gopher_mean_word_length', 'gopher_symbol_word_ratio',
        'gopher_bullet_lines', 'gopher_ellipsis_lines', 'gopher_alpha_words', 'gopher_stop_words',
        'gopher_dup_lines', 'gopher_dup_paragraphs', 'gopher_dup_line_chars',
        'gopher_dup_paragraph_chars', 'gopher_top_ngrams', 'gopher_dup_ngrams',
        'c4_lorem_ipsum', 'c4_curly_bracket', 'c4_min_sentences',
        'fineweb_line_punctuation', 'fineweb_dup_line_chars', 'fineweb_short_lines',
        'fineweb_newline_ratio',
    ]) }}
{%- endmacro %}

{#-
    The incremental watermark of the per-document cleaning models: rows whose extracted_at is
    newer than the newest one already in this model's table (every row when it is empty). A
    new version of a document has a newer extracted_at, so it is read again and replaces the
    old row (unique_key document_id, delete+insert). Use inside {% if is_incremental() %}.
-#}
{% macro newer_than_this_build(column='extracted_at') -%}
    {{ column }} > (
        select coalesce(max(built.extracted_at), '-infinity'::timestamp with time zone)
        from {{ this }} as built
    )
{%- endmacro %}
