{#- Only the sources some CSV label source names as its item_source (vars label_sources,
    prediction_sources): with none, no document or task is read. -#}
{%- set item_sources = [] -%}
{%- for var_name in ['label_sources', 'prediction_sources'] -%}
    {%- for options in (var(var_name, {}) or {}).values() -%}
        {%- if options.get('item_source') and options['item_source'] not in item_sources -%}
            {%- do item_sources.append(options['item_source']) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endfor -%}
{%- set literals = [] -%}
{%- for name in item_sources -%}
    {%- do literals.append(sql_string_literal(name)) -%}
{%- endfor -%}
{%- set named = 'source_name in (' ~ (literals | join(', ')) ~ ')' if literals else 'false' %}

with

stg_refinery__documents as (
    select * from {{ ref('stg_refinery__documents') }}
    where {{ named }}
),

stg_refinery__annotation_tasks as (
    select * from {{ ref('stg_refinery__annotation_tasks') }}
    where {{ named }}
),

document_items as (
    -- A document is named by its source key (a `files` source's primary key, a file's path).
    select
        source_name,
        source_key as item_id,
        raw_text as item_text,
        stream_name
    from stg_refinery__documents
),

tool_items as (
    -- A Label Studio task by its id, an Argilla record by its id.
    select
        source_name,
        task_id as item_id,
        item_text,
        stream_name
    from stg_refinery__annotation_tasks
    where kind in ('label_studio', 'argilla')
),

items as (
    select * from document_items
    union all
    select * from tool_items
),

final as (
    select
        source_name,
        item_id,
        item_text
    from items
    -- A source with several streams could reuse a key: its first stream (by name) names the item.
    qualify row_number() over (partition by source_name, item_id order by stream_name) = 1
)

select * from final
