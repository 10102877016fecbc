-- sqlfluff:ignore:parsing
-- (normalize_text nests regexp_replace past sqlfluff's parse depth; dbt compiles and tests it)
-- A table, not a view: normalize_text may call the Python UDF refinery_fix_encoding (see int_label_votes).
{{ config(materialized='table') }}

with

stg_refinery__annotation_tasks as (
    select * from {{ ref('stg_refinery__annotation_tasks') }}
),

int_label_items as (
    select * from {{ ref('int_label_items') }}
),

int_label_votes as (
    select * from {{ ref('int_label_votes') }}
),

source_options as (
    -- refinery.yml `task` and `item_source` of the predictions_csv sources (var prediction_sources).
    {{ label_source_options('prediction_sources') }}
),

annotation_source_options as (
    -- refinery.yml `gold` of the annotation sources (var label_sources).
    {{ label_source_options('label_sources') }}
),

label_studio_results as (
    -- A Label Studio prediction: `result[]` (choices per control) with one `score` and `model_version`.
    select
        tasks.source_name,
        tasks.task_id as item_id,
        tasks.item_text,
        prediction.value ->> 'model_version' as model_version,
        try_cast(prediction.value ->> 'score' as double) as score,
        {{ to_utc_timestamp("prediction.value ->> 'created_at'") }} as created_at,
        prediction_result.value as result_json
    from stg_refinery__annotation_tasks as tasks
    cross join json_each(tasks.task_json, '$.predictions') as prediction
    cross join json_each(prediction.value, '$.result') as prediction_result
    where
        tasks.kind = 'label_studio'
        -- An adjudication export's predictions are the votes and predictions Refinery exported as
        -- pre-annotations (refinery labels export-queue), not new model output.
        and tasks.source_name not in (
            select source_name from annotation_source_options where is_gold_source
        )
),

label_studio_predictions as (
    select
        source_name,
        'label_studio' as tool,
        result_json ->> 'from_name' as task_name,
        item_id,
        item_text,
        source_name as item_namespace,
        nullif(model_version, '') as model_version,
        -- Several choices: sorted and joined by '|', as in int_label_votes.
        array_to_string(list_sort(json_extract_string(result_json, '$.value.choices[*]')), '|') as label,
        score,
        created_at
    from label_studio_results
    where json_array_length(result_json -> '$.value.choices') > 0
),

argilla_entries as (
    -- Nested export: suggestions {question: {value, score, agent}}; flattened: keys `<q>.suggestion`,
    -- `<q>.suggestion.score`, `<q>.suggestion.agent` (question names cannot hold a dot).
    select
        records.source_name,
        records.task_id as item_id,
        records.item_text,
        suggestion.key as task_name,
        suggestion.value -> 'value' as value_json,
        suggestion.value -> 'score' as score_json,
        suggestion.value ->> 'agent' as agent
    from stg_refinery__annotation_tasks as records
    cross join json_each(records.task_json, '$.suggestions') as suggestion
    where records.kind = 'argilla'
        and json_type(records.task_json -> 'suggestions') = 'OBJECT'
        and json_type(suggestion.value) = 'OBJECT'
    union all
    select
        records.source_name,
        records.task_id as item_id,
        records.item_text,
        split_part(entry.key, '.', 1) as task_name,
        any_value(entry.value) filter (where entry.key = split_part(entry.key, '.', 1) || '.suggestion') as value_json,
        any_value(entry.value) filter (where entry.key = split_part(entry.key, '.', 1) || '.suggestion.score')
            as score_json,
        any_value(entry.value ->> '$') filter (where entry.key = split_part(entry.key, '.', 1) || '.suggestion.agent')
            as agent
    from stg_refinery__annotation_tasks as records
    cross join json_each(records.task_json) as entry
    where records.kind = 'argilla'
        and entry.key like '%.suggestion%'
    group by records.source_name, records.task_id, records.item_text, split_part(entry.key, '.', 1)
),

argilla_predictions as (
    select
        source_name,
        'argilla' as tool,
        task_name,
        item_id,
        item_text,
        source_name as item_namespace,
        agent as model_version,
        -- A multi-label suggestion: its sorted labels joined by '|' (one score per label, if given).
        case
            when json_type(value_json) = 'ARRAY'
                then nullif(array_to_string(list_sort(json_extract_string(value_json, '$[*]')), '|'), '')
            when json_type(value_json) not in ('OBJECT', 'NULL') then value_json ->> '$'
        end as label,
        case when json_type(score_json) in ('DOUBLE', 'BIGINT', 'UBIGINT') then (score_json ->> '$')::double end
            as score,
        case
            when json_type(value_json) = 'ARRAY' and json_type(score_json) = 'ARRAY'
                then list_transform(
                    generate_series(1, least(json_array_length(value_json), json_array_length(score_json))::bigint),
                    position -> {
                        'label': json_extract_string(value_json, '$[*]')[position],
                        'probability': try_cast(json_extract_string(score_json, '$[*]')[position] as double)
                    }
                )
        end as per_label,
        null::timestamp with time zone as created_at
    from argilla_entries
    where json_type(value_json) is not null and json_type(value_json) != 'NULL'
),

csv_rows as (
    -- predictions_csv: one row per (item, class); the rows of an item, task, model version and
    -- created_at are one prediction's class-probability distribution.
    select
        rows.source_name,
        trim(rows.task_json ->> 'item_id') as item_id,
        nullif(trim(rows.item_text), '') as item_text,
        coalesce(source_options.item_source, rows.source_name) as item_namespace,
        source_options.item_source,
        coalesce(nullif(trim(rows.task_json ->> 'task'), ''), source_options.task_name, rows.source_name)
            as task_name,
        nullif(trim(rows.task_json ->> 'model_version'), '') as model_version,
        trim(rows.task_json ->> 'label') as label,
        try_cast(trim(rows.task_json ->> 'probability') as double) as probability,
        {{ to_utc_timestamp("nullif(trim(rows.task_json ->> 'created_at'), '')") }} as created_at
    from stg_refinery__annotation_tasks as rows
    left join source_options
        on rows.source_name = source_options.source_name
    where rows.kind = 'predictions_csv'
),

csv_classes as (
    -- A class listed twice for one prediction counts once, with its highest probability.
    select
        source_name,
        item_id,
        item_namespace,
        item_source,
        task_name,
        model_version,
        created_at,
        label,
        any_value(item_text) as item_text,
        max(probability) as probability
    from csv_rows
    group by all
),

csv_predictions as (
    select
        source_name,
        'csv' as tool,
        task_name,
        item_id,
        any_value(item_text) as item_text,
        item_namespace,
        item_source,
        model_version,
        created_at,
        list({'label': label, 'probability': probability} order by probability desc, label) as probabilities
    from csv_classes
    group by source_name, task_name, item_id, item_namespace, item_source, model_version, created_at
),

predictions as (
    select
        source_name,
        tool,
        task_name,
        item_id,
        item_text,
        item_namespace,
        null::varchar as item_source,
        model_version,
        label,
        score,
        [{'label': label, 'probability': score}]::struct(label varchar, probability double)[] as probabilities,
        created_at
    from label_studio_predictions
    union all
    select
        source_name,
        tool,
        task_name,
        item_id,
        item_text,
        item_namespace,
        null::varchar as item_source,
        model_version,
        label,
        score,
        coalesce(per_label, [{'label': label, 'probability': score}])::struct(label varchar, probability double)[]
            as probabilities,
        created_at
    from argilla_predictions
    union all
    select
        source_name,
        tool,
        task_name,
        item_id,
        item_text,
        item_namespace,
        item_source,
        model_version,
        probabilities[1].label as label,
        probabilities[1].probability as score,
        probabilities::struct(label varchar, probability double)[] as probabilities,
        created_at
    from csv_predictions
),

vote_items as (
    -- Item keys of annotation sources, for predictions that name items by a CSV source's ids.
    select
        source_name,
        item_id,
        min(item_key) as item_key
    from int_label_votes
    group by source_name, item_id
),

keyed as (
    select
        predictions.*,
        coalesce(predictions.item_text, int_label_items.item_text) as resolved_text,
        vote_items.item_key as vote_item_key
    from predictions
    left join int_label_items
        on
            predictions.item_source = int_label_items.source_name
            and predictions.item_id = int_label_items.item_id
    left join vote_items
        on
            predictions.item_source = vote_items.source_name
            and predictions.item_id = vote_items.item_id
),

hashed as (
    select
        *,
        -- The same item_key as the votes: the text's hash, else the item's key among the votes of
        -- item_source, else the id in the namespace of the source whose ids they are.
        coalesce(
            {{ text_hash(normalize_text('resolved_text')) }},
            vote_item_key,
            item_namespace || ':' || item_id
        ) as item_key
    from keyed
),

latest as (
    -- One prediction per source, task, item and model version: the newest.
    select *
    from hashed
    qualify row_number() over (
        partition by source_name, task_name, item_key, coalesce(model_version, '')
        order by created_at desc nulls last, item_id desc
    ) = 1
),

final as (
    select
        md5(source_name || ':' || task_name || ':' || item_key || ':' || coalesce(model_version, ''))
            as prediction_id,
        source_name,
        tool,
        task_name,
        item_key,
        item_id,
        model_version,
        label,
        score,
        probabilities,
        created_at
    from latest
)

select * from final
