-- sqlfluff:ignore:parsing
-- (normalize_text nests regexp_replace past sqlfluff's parse depth; dbt compiles and tests it)
-- A table, not a view: normalize_text may call the Python UDF refinery_fix_encoding, which
-- exists only in dbt's connections, so a view would fail when queried from any other client.
{{ config(materialized='table') }}

with

int_label_votes__label_studio as (
    select * from {{ ref('int_label_votes__label_studio') }}
),

int_label_votes__argilla as (
    select * from {{ ref('int_label_votes__argilla') }}
),

int_label_votes__csv as (
    select * from {{ ref('int_label_votes__csv') }}
),

source_options as (
    -- Level of measurement per annotation source (refinery.yml `level`, `order`; var label_sources).
    {{ label_source_options('label_sources') }}
),

votes as (
    select * from int_label_votes__label_studio
    union all by name
    select * from int_label_votes__argilla
    union all by name
    select * from int_label_votes__csv
),

item_hashes as (
    -- Each distinct text is normalized and hashed once (an item has a vote per annotator).
    select
        item_text,
        {{ text_hash(normalize_text('item_text')) }} as item_hash
    from (select distinct item_text from votes where item_text is not null) as texts
),

final as (
    select
        votes.vote_id,
        votes.source_name,
        votes.tool,
        votes.task_id,
        votes.item_id,
        votes.annotation_id,
        votes.annotator_id,
        -- Ids are unique only inside one source; an annotation without an annotator is its own.
        votes.source_name || ':' || coalesce(votes.annotator_id, 'annotation-' || coalesce(votes.annotation_id, votes.task_id))
            as annotator_key,
        votes.result_index,
        votes.task_name,
        votes.label,
        coalesce(source_options.level, 'nominal') as level,
        -- ordinal: 1-based position in the source's `order`; interval/ratio: the label as a number.
        case
            when source_options.level = 'ordinal' then nullif(list_position(source_options.label_order, votes.label), 0)::double
            when source_options.level in ('interval', 'ratio') then try_cast(votes.label as double)
        end as label_value,
        votes.status,
        -- A source with `gold: true` (an adjudication export) makes every annotation gold.
        votes.is_gold or coalesce(source_options.is_gold_source, false) as is_gold,
        votes.lead_time_seconds,
        votes.created_at,
        votes.updated_at,
        votes.item_text,
        item_hashes.item_hash,
        votes.item_namespace
    from votes
    left join source_options
        on votes.source_name = source_options.source_name
    left join item_hashes
        on votes.item_text = item_hashes.item_text
),

keyed as (
    select
        vote_id,
        source_name,
        tool,
        task_id,
        item_id,
        annotation_id,
        annotator_id,
        annotator_key,
        result_index,
        task_name,
        label,
        level,
        label_value,
        status,
        is_gold,
        lead_time_seconds,
        created_at,
        updated_at,
        item_text,
        item_hash,
        -- The item a vote is about: its text (so exports of one text agree and votes join
        -- documents by content), or the item's id in the namespace of the source whose ids
        -- they are (the source itself, or a CSV source's item_source) when there is no text.
        coalesce(item_hash, item_namespace || ':' || item_id) as item_key
    from final
)

select * from keyed
