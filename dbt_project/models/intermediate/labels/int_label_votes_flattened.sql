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
        result_json ->> '$.value.choices[0]' as label,
        case
            when coalesce(try_cast(annotation_json ->> 'was_cancelled' as boolean), false) then 'skipped'
            else 'submitted'
        end as status,
        coalesce(try_cast(annotation_json ->> 'ground_truth' as boolean), false) as is_ground_truth,
        try_cast(annotation_json ->> 'lead_time' as double) as lead_time_seconds,
        {{ to_utc_timestamp("annotation_json ->> 'created_at'") }} as created_at,
        {{ to_utc_timestamp("annotation_json ->> 'updated_at'") }} as updated_at,
        item_text
    from results
),

final as (
    select
        md5(
            source_name || ':' || task_id || ':' || coalesce(annotation_id, '') || ':'
            || coalesce(result_index::varchar, '-')
        ) as vote_id,
        source_name,
        task_id,
        annotation_id,
        annotator_id,
        result_index,
        task_name,
        label,
        status,
        is_ground_truth,
        lead_time_seconds,
        created_at,
        updated_at,
        item_text,
        {{ text_hash(normalize_text('item_text')) }} as item_hash
    from flattened
)

select * from final
