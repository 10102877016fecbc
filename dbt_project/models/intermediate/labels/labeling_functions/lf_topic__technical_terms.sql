-- Labeling function (docs/labeling/weak-supervision.md), task topic: product-fault
-- vocabulary (app, crash, error, bug, browser names, notifications, sync, export, bluetooth,
-- version, website, reader).
-- One row per kept document: 'technical' when the lower-cased text matches, else NULL (abstain).
with

int_documents_deduplicated as (
    select * from {{ ref('int_documents_deduplicated') }}
),

kept_documents as (
    select
        document_id,
        lower(normalized_text) as text
    from int_documents_deduplicated
    where is_kept
),

final as (
    select
        document_id,
        case
            when
                regexp_matches(text, '\b(app|crash(es|ed)?|errors?|bugs?|sync|export|bluetooth|version)\b')
                or regexp_matches(text, '\b(browsers?|firefox|chrome|safari|website|notifications|reader)\b')
                then 'technical'
        end as label
    from kept_documents
)

select * from final
