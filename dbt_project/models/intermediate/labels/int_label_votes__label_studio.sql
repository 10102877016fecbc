with

stg_refinery__annotation_tasks as (
    select * from {{ ref('stg_refinery__annotation_tasks') }}
    where kind = 'label_studio'
),

annotations as (
    -- Submitted and skipped annotations, and the drafts a snapshot export holds in `drafts[]`.
    -- (unnest of a json_extract list: about 5x faster than json_each on 1M annotations.)
    select
        source_name,
        task_id,
        item_text,
        extracted_at,
        unnest(json_extract(task_json, '$.annotations[*]')) as annotation_json,
        false as is_draft
    from stg_refinery__annotation_tasks
    union all
    select
        source_name,
        task_id,
        item_text,
        extracted_at,
        unnest(json_extract(task_json, '$.drafts[*]')) as annotation_json,
        true as is_draft
    from stg_refinery__annotation_tasks
),

parsed as (
    select
        source_name,
        task_id,
        item_text,
        extracted_at,
        annotation_json,
        -- Drafts have their own id sequence: prefixed so they never meet an annotation's id.
        case
            when is_draft then 'draft-' || (annotation_json ->> 'id')
            else annotation_json ->> 'id'
        end as annotation_id,
        -- completed_by is a user id, or a user object {id, email, ...} (snapshot and storage
        -- exports); a draft names its author in `user` (an id, a user object or a name).
        case
            when json_type(annotation_json -> 'completed_by') = 'OBJECT'
                then annotation_json -> 'completed_by' ->> 'id'
            when json_type(annotation_json -> 'user') = 'OBJECT'
                then annotation_json -> 'user' ->> 'id'
            else coalesce(annotation_json ->> 'completed_by', annotation_json ->> 'user')
        end as annotator_id,
        case
            when is_draft then 'draft'
            when coalesce(try_cast(annotation_json ->> 'was_cancelled' as boolean), false) then 'skipped'
            else 'submitted'
        end as status,
        coalesce(try_cast(annotation_json ->> 'ground_truth' as boolean), false) as is_gold,
        try_cast(annotation_json ->> 'lead_time' as double) as lead_time_seconds,
        {{ to_utc_timestamp("annotation_json ->> 'created_at'") }} as created_at,
        {{ to_utc_timestamp("annotation_json ->> 'updated_at'") }} as updated_at
    from annotations
),

latest_annotations as (
    -- A re-exported annotation replaces its older version: per annotation id, the newest
    -- updated_at wins, whichever task (a task landed again under a new id) or file holds it.
    select *
    from parsed
    qualify row_number() over (
        partition by source_name, coalesce(annotation_id, task_id || ':' || md5(annotation_json::varchar))
        order by
            updated_at desc nulls last,
            created_at desc nulls last,
            extracted_at desc,
            task_id desc
    ) = 1
),

results as (
    -- One row per result entry (columns result_index, result_json); an annotation with an empty
    -- `result` (usually a skip) stays as one row with NULL result_index and result_json.
    select
        *,
        -- recursive unnest names its columns after the struct's fields: no alias to give.
        unnest(  -- noqa: AL03
            coalesce(
                nullif(
                    list_transform(
                        json_extract(annotation_json, '$.result[*]'),
                        (entry, position) -> { 'result_index': (position - 1)::integer, 'result_json': entry }
                    ),
                    []
                ),
                [null]
            ),
            recursive := true
        )
    from latest_annotations
),

final as (
    select
        md5(
            source_name || ':' || task_id || ':' || coalesce(annotation_id, '') || ':'
            || coalesce(result_index::varchar, '-')
        ) as vote_id,
        source_name,
        'label_studio' as tool,
        task_id,
        task_id as item_id,
        annotation_id,
        annotator_id,
        result_index,
        result_json ->> 'from_name' as task_name,
        -- One label per result: a multi-choice answer is its sorted choices joined by '|'; a
        -- Rating or Number control gives its number, a TextArea its first text.
        case
            when json_array_length(result_json -> '$.value.choices') > 1
                then array_to_string(list_sort(json_extract_string(result_json, '$.value.choices[*]')), '|')
            when json_array_length(result_json -> '$.value.choices') = 1
                then result_json ->> '$.value.choices[0]'
            when (result_json -> '$.value.rating') is not null then result_json ->> '$.value.rating'
            when (result_json -> '$.value.number') is not null then result_json ->> '$.value.number'
            when json_type(result_json -> '$.value.text') = 'ARRAY' then result_json ->> '$.value.text[0]'
        end as label,
        status,
        is_gold,
        lead_time_seconds,
        created_at,
        updated_at,
        item_text,
        source_name as item_namespace
    from results
)

select * from final
