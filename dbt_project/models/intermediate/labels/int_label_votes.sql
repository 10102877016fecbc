-- sqlfluff:ignore:parsing
-- (normalize_text nests regexp_replace past sqlfluff's parse depth; dbt compiles and tests it)
-- A table, not a view: normalize_text may call the Python UDF refinery_fix_encoding, which
-- exists only in dbt's connections, so a view would fail when queried from any other client.
{{ config(materialized='table') }}

with

stg_refinery__annotation_tasks as (
    select * from {{ ref('stg_refinery__annotation_tasks') }}
),

annotations as (
    select
        tasks.source_name,
        tasks.task_id,
        tasks.item_text,
        annotation.value as annotation_json
    from stg_refinery__annotation_tasks as tasks
    cross join json_each(tasks.task_json, '$.annotations') as annotation
),

results as (
    -- A skipped annotation usually has an empty `result`: the left join keeps it as one row.
    select
        annotations.source_name,
        annotations.task_id,
        annotations.item_text,
        annotations.annotation_json,
        annotation_result.key::integer as result_index,
        annotation_result.value as result_json
    from annotations
    left join json_each(annotations.annotation_json, '$.result') as annotation_result
        on true
),

flattened as (
    select
        source_name,
        task_id,
        annotation_json ->> 'id' as annotation_id,
        -- completed_by is a user id, or a user object {id, email, ...} in some export versions.
        case
            when json_type(annotation_json -> 'completed_by') = 'OBJECT'
                then annotation_json -> 'completed_by' ->> 'id'
            else annotation_json ->> 'completed_by'
        end as annotator_id,
        result_index,
        result_json ->> 'from_name' as task_name,
        -- One label per result: a multi-choice answer is its sorted choices joined by '|'.
        case
            when json_array_length(result_json -> '$.value.choices') > 1
                then array_to_string(list_sort(json_extract_string(result_json, '$.value.choices[*]')), '|')
            else result_json ->> '$.value.choices[0]'
        end as label,
        case
            when coalesce(try_cast(annotation_json ->> 'was_cancelled' as boolean), false) then 'skipped'
            else 'submitted'
        end as status,
        coalesce(try_cast(annotation_json ->> 'ground_truth' as boolean), false) as is_gold,
        try_cast(annotation_json ->> 'lead_time' as double) as lead_time_seconds,
        {{ to_utc_timestamp("annotation_json ->> 'created_at'") }} as created_at,
        {{ to_utc_timestamp("annotation_json ->> 'updated_at'") }} as updated_at,
        item_text
    from results
),

sources as (
    -- Level of measurement per annotation source (refinery.yml `level`, `order`; dbt var label_sources).
    {%- set label_sources = var('label_sources') or {} %}
    select * from (values
        ('', 'nominal', []::varchar[])
        {%- for name, options in label_sources.items() %}
        , ({{ sql_string_literal(name) }}, {{ sql_string_literal(options.get('level', 'nominal')) }},
           [{% for value in options.get('order') or [] %}{{ sql_string_literal(value) }}{{ ', ' if not loop.last }}{% endfor %}]::varchar[])
        {%- endfor %}
    ) as t (source_name, level, label_order)
),

final as (
    select
        md5(
            flattened.source_name || ':' || task_id || ':' || coalesce(annotation_id, '') || ':'
            || coalesce(result_index::varchar, '-')
        ) as vote_id,
        flattened.source_name,
        'label_studio' as tool,
        task_id,
        task_id as item_id,
        annotation_id,
        annotator_id,
        -- Ids are unique only inside one source; an annotation without an annotator is its own.
        flattened.source_name || ':' || coalesce(annotator_id, 'annotation-' || coalesce(annotation_id, task_id))
            as annotator_key,
        result_index,
        task_name,
        label,
        coalesce(sources.level, 'nominal') as level,
        -- ordinal: 1-based position in the source's `order`; interval/ratio: the label as a number.
        case
            when sources.level = 'ordinal' then nullif(list_position(sources.label_order, label), 0)::double
            when sources.level in ('interval', 'ratio') then try_cast(label as double)
        end as label_value,
        status,
        is_gold,
        lead_time_seconds,
        created_at,
        updated_at,
        item_text,
        {{ text_hash(normalize_text('item_text')) }} as item_hash
    from flattened
    left join sources
        on flattened.source_name = sources.source_name
),

keyed as (
    select
        *,
        -- The item a vote is about: its text (so exports of one text agree and votes join
        -- documents by content), or the source's own item id when there is no text.
        coalesce(item_hash, source_name || ':' || item_id) as item_key
    from final
)

select * from keyed
