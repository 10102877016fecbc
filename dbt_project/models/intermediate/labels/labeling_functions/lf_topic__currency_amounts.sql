-- Labeling function (docs/labeling/weak-supervision.md), task topic: a money amount (a
-- currency sign before a digit, or an amount followed by €). A pattern, not a word list: it
-- overlaps billing_terms heavily and misfires on shipping costs and customs fees.
-- One row per kept document: 'billing' when the lower-cased text matches, else NULL (abstain).
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
            when regexp_matches(text, '([$€£]\s?\d|\d[\d.,]*\s?€)')
                then 'billing'
        end as label
    from kept_documents
)

select * from final
