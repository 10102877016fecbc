with

stg_refinery__annotation_tasks as (
    select * from {{ ref('stg_refinery__annotation_tasks') }}
    where kind = 'annotations_csv'
),

int_label_items as (
    select * from {{ ref('int_label_items') }}
),

source_options as (
    -- refinery.yml `task` (rows without a task value) and `item_source` (var label_sources).
    {{ label_source_options('label_sources') }}
),

parsed as (
    -- One CSV row is one vote; every value landed as text.
    select
        rows.source_name,
        rows.task_id as row_key,
        trim(rows.task_json ->> 'item_id') as item_id,
        nullif(trim(rows.task_json ->> 'annotation_id'), '') as given_annotation_id,
        trim(rows.task_json ->> 'annotator_id') as annotator_id,
        coalesce(nullif(trim(rows.task_json ->> 'task'), ''), source_options.task_name, rows.source_name)
            as task_name,
        nullif(trim(rows.task_json ->> 'label'), '') as label,
        coalesce(lower(trim(rows.task_json ->> 'is_gold')) in ('true', 't', '1', 'yes', 'y'), false)
            as is_gold,
        {{ to_utc_timestamp("nullif(trim(rows.task_json ->> 'created_at'), '')") }} as created_at,
        {{ to_utc_timestamp("nullif(trim(rows.task_json ->> 'updated_at'), '')") }} as updated_at,
        nullif(trim(rows.item_text), '') as own_text,
        source_options.item_source,
        rows.extracted_at
    from stg_refinery__annotation_tasks as rows
    left join source_options
        on rows.source_name = source_options.source_name
),

latest_rows as (
    -- A row with an annotation_id replaces the older rows of that id (and task); rows without
    -- one are distinct by content (identical rows landed twice are one row in staging).
    select *
    from parsed
    qualify row_number() over (
        partition by source_name, task_name, coalesce(given_annotation_id, row_key)
        order by updated_at desc nulls last, created_at desc nulls last, extracted_at desc, row_key desc
    ) = 1
),

final as (
    select
        md5(
            latest_rows.source_name || ':' || coalesce(latest_rows.given_annotation_id, latest_rows.row_key)
            || ':' || latest_rows.task_name
        ) as vote_id,
        latest_rows.source_name,
        'csv' as tool,
        latest_rows.item_id as task_id,
        latest_rows.item_id,
        coalesce(latest_rows.given_annotation_id, latest_rows.row_key) as annotation_id,
        latest_rows.annotator_id,
        null::integer as result_index,
        latest_rows.task_name,
        latest_rows.label,
        -- An empty label is a skip: the annotator saw the item and gave no label.
        case when latest_rows.label is null then 'skipped' else 'submitted' end as status,
        latest_rows.is_gold,
        null::double as lead_time_seconds,
        latest_rows.created_at,
        latest_rows.updated_at,
        -- The row's own text, else the text of the item_source item with this id.
        coalesce(latest_rows.own_text, int_label_items.item_text) as item_text,
        coalesce(latest_rows.item_source, latest_rows.source_name) as item_namespace
    from latest_rows
    left join int_label_items
        on
            latest_rows.item_source = int_label_items.source_name
            and latest_rows.item_id = int_label_items.item_id
)

select * from final
