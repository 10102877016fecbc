with

stg_refinery__annotation_tasks as (
    select * from {{ ref('stg_refinery__annotation_tasks') }}
    where kind = 'argilla'
),

nested_responses as (
    -- records.to_json / to_disk / to_list(flatten=False): {question: [{value, user_id}, ...]}.
    -- The SDK leaves the response status out of this shape: a response without one is submitted.
    select
        records.source_name,
        records.task_id,
        records.item_text,
        question.key as task_name,
        response.value ->> 'user_id' as annotator_id,
        response.value -> 'value' as value_json,
        coalesce(response.value ->> 'status', 'submitted') as status
    from stg_refinery__annotation_tasks as records
    cross join json_each(records.task_json, '$.responses') as question
    cross join json_each(question.value) as response
    where
        json_type(records.task_json -> 'responses') = 'OBJECT'
        and json_type(question.value) = 'ARRAY'
),

flat_entries as (
    -- to_list(flatten=True) / to_datasets(): parallel lists `<q>.responses`, `<q>.responses.users`,
    -- `<q>.responses.status` (question names cannot hold a dot, so the first part is the question).
    select
        records.source_name,
        records.task_id,
        records.item_text,
        split_part(entry.key, '.', 1) as task_name,
        substr(entry.key, length(split_part(entry.key, '.', 1)) + 2) as part,
        entry.value
    from stg_refinery__annotation_tasks as records
    cross join json_each(records.task_json) as entry
    where
        entry.key like '%.responses%'
        and json_type(entry.value) = 'ARRAY'
),

flat_questions as (
    select
        source_name,
        task_id,
        item_text,
        task_name,
        json_extract(any_value(value) filter (where part = 'responses'), '$[*]') as response_values,
        json_extract_string(any_value(value) filter (where part = 'responses.users'), '$[*]')
            as response_users,
        json_extract_string(any_value(value) filter (where part = 'responses.status'), '$[*]')
            as response_statuses
    from flat_entries
    group by source_name, task_id, item_text, task_name
),

flat_responses as (
    select
        source_name,
        task_id,
        item_text,
        task_name,
        response_users[position] as annotator_id,
        response_values[position] as value_json,
        coalesce(response_statuses[position], 'submitted') as status
    from flat_questions
    cross join unnest(generate_series(1, len(response_values))) as positions (position)
    where response_values is not null
),

responses as (
    select * from nested_responses
    union all
    select * from flat_responses
),

final as (
    select
        md5(source_name || ':' || task_id || ':' || coalesce(annotator_id, '') || ':' || task_name)
            as vote_id,
        source_name,
        'argilla' as tool,
        task_id,
        task_id as item_id,
        -- A user's response to a record (Argilla keeps one per user and record).
        annotator_id || '@' || task_id as annotation_id,
        annotator_id,
        null::integer as result_index,
        task_name,
        -- Label and rating questions give one value; a multi-label answer is its sorted values
        -- joined by '|'. Span and ranking answers (lists of objects) are not labels: NULL.
        case
            when
                json_type(value_json) = 'ARRAY'
                and not list_bool_or(list_transform(
                    json_type(value_json, '$[*]'), item_type -> item_type in ('OBJECT', 'ARRAY')
                ))
                then nullif(array_to_string(list_sort(json_extract_string(value_json, '$[*]')), '|'), '')
            when json_type(value_json) not in ('OBJECT', 'ARRAY', 'NULL') then value_json ->> '$'
        end as label,
        status,
        false as is_gold,
        null::double as lead_time_seconds,
        null::timestamp with time zone as created_at,
        null::timestamp with time zone as updated_at,
        item_text,
        source_name as item_namespace
    from responses
)

select * from final
