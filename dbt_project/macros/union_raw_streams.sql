{#-
    union_raw_streams(role, text_parent='$')

    Union every raw table whose stream has `role` in raw._refinery_streams, discovered at
    execution time (the idea of dbt_utils.union_relations, driven by the stream catalog),
    so a new source in refinery.yml needs no new SQL. Each branch selects the Airbyte raw
    columns, the source's `kind`, plus, extracted from `_airbyte_data` by the field names the
    catalog gives:
      primary_key_value (NULL when the stream has no primary key),
      cursor_value      (NULL when the stream has no cursor field),
      text_value        (field `text_field` under `text_parent`: '$' for documents,
                         '$.data' for Label Studio tasks),
      group_value       (NULL when the stream has no group field),
    all varchar. `text_parent` may also map a source kind to its parent path, or to a list of
    paths tried in order (the first non-NULL value wins), with key '*' for the other kinds:
    {'label_studio': '$.data', 'argilla': ['$.fields', '$'], '*': '$'}. With no catalog table or no stream of that role the result is a typed,
    empty select with the same columns.

    Field names are quoted as JSON path string literals (json_path_literal); table names
    must match ^[a-z][a-z0-9_]*$ and are double-quoted. A catalog row whose raw table does
    not exist is a broken raw layer and stops the run with a message naming it.

    Callers add `-- depends_on: {{ source('refinery', '_refinery_streams') }}` so dbt
    lineage includes the catalog even though it is only read at execution time.
-#}
{% macro union_raw_streams(role, text_parent='$') -%}
    {%- if role not in ['documents', 'annotations', 'records'] -%}
        {{ exceptions.raise_compiler_error(
            "union_raw_streams: role '" ~ role ~ "' is not one of documents, annotations, records"
        ) }}
    {%- endif -%}
    {%- set streams = [] -%}
    {%- if execute -%}
        {%- set catalog = source('refinery', '_refinery_streams') -%}
        {%- set catalog_exists = adapter.get_relation(
            database=catalog.database, schema=catalog.schema, identifier=catalog.identifier
        ) -%}
        {%- if catalog_exists is not none -%}
            {%- set catalog_query -%}
                select
                    streams.source_name,
                    streams.stream_name,
                    streams.table_name,
                    streams.kind,
                    streams.primary_key,
                    streams.cursor_field,
                    streams.text_field,
                    streams.group_field,
                    exists (
                        select 1
                        from information_schema.tables as tables
                        where tables.table_catalog = {{ sql_string_literal(catalog.database) }}
                            and tables.table_schema = {{ sql_string_literal(catalog.schema) }}
                            and tables.table_name = streams.table_name
                    ) as table_exists
                from {{ catalog }} as streams
                where streams.role = {{ sql_string_literal(role) }}
                    and {{ is_configured_source('streams.source_name') }}
                order by streams.source_name, streams.stream_name
            {%- endset -%}
            {%- for row in run_query(catalog_query).rows -%}
                {%- if row['table_name'] is none or not modules.re.match('^[a-z][a-z0-9_]*$', row['table_name']) -%}
                    {{ exceptions.raise_compiler_error(
                        "raw._refinery_streams: table_name '" ~ row['table_name'] ~ "' of stream "
                        ~ row['source_name'] ~ "." ~ row['stream_name']
                        ~ " does not match ^[a-z][a-z0-9_]*$; fix the catalog row (ingestion validates names)."
                    ) }}
                {%- endif -%}
                {%- if not row['table_exists'] -%}
                    {{ exceptions.raise_compiler_error(
                        "raw._refinery_streams lists stream " ~ row['source_name'] ~ "." ~ row['stream_name']
                        ~ " but table raw." ~ row['table_name'] ~ " does not exist; re-run the sync of "
                        ~ row['source_name'] ~ " or delete the stale catalog row."
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
        null::varchar as kind,
        null::varchar as _airbyte_raw_id,
        null::timestamp with time zone as _airbyte_extracted_at,
        null::timestamp with time zone as _airbyte_loaded_at,
        null::bigint as _airbyte_generation_id,
        null::json as _airbyte_data,
        null::varchar as primary_key_value,
        null::varchar as cursor_value,
        null::varchar as text_value,
        null::varchar as group_value
    where false
    {%- endif %}
    {%- for stream in streams %}
    select
        {{ sql_string_literal(stream['source_name']) }}::varchar as source_name,
        {{ sql_string_literal(stream['stream_name']) }}::varchar as stream_name,
        {{ sql_string_literal(stream['kind']) }}::varchar as kind,
        _airbyte_raw_id::varchar as _airbyte_raw_id,
        _airbyte_extracted_at::timestamp with time zone as _airbyte_extracted_at,
        _airbyte_loaded_at::timestamp with time zone as _airbyte_loaded_at,
        _airbyte_generation_id::bigint as _airbyte_generation_id,
        _airbyte_data::json as _airbyte_data,
        {{ _raw_stream_field(stream['primary_key']) }} as primary_key_value,
        {{ _raw_stream_field(stream['cursor_field']) }} as cursor_value,
        {{ _raw_stream_text(stream['text_field'], stream['kind'], text_parent) }} as text_value,
        {{ _raw_stream_field(stream['group_field']) }} as group_value
    from {{ adapter.quote(catalog.database) }}.{{ adapter.quote(catalog.schema) }}.{{ adapter.quote(stream['table_name']) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{% macro _raw_stream_text(field, kind, text_parent) -%}
    {%- if text_parent is mapping -%}
        {%- set parents = text_parent.get(kind, text_parent.get('*', '$')) -%}
    {%- else -%}
        {%- set parents = text_parent -%}
    {%- endif -%}
    {%- if parents is string -%}
        {%- set parents = [parents] -%}
    {%- endif -%}
    {%- if parents | length == 1 or field is none or (field | string | trim) == '' -%}
        {{ _raw_stream_field(field, parents[0]) }}
    {%- else -%}
        coalesce({% for parent in parents %}{{ _raw_stream_field(field, parent) }}{{ ', ' if not loop.last }}{% endfor %})
    {%- endif -%}
{%- endmacro %}

{% macro _raw_stream_field(field, parent='$') -%}
    {%- if field is none or (field | string | trim) == '' -%}
        null::varchar
    {%- else -%}
        (_airbyte_data ->> {{ json_path_literal(field, parent) }})::varchar
    {%- endif -%}
{%- endmacro %}
