-- Labeling function (docs/labeling/weak-supervision.md), task topic: billing vocabulary
-- (invoice, bill, charge, refund, fee, payment, subscription, discount). Broad on purpose:
-- refunds and invoices also come up in shipping and account tickets, so it is the noisiest.
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
            when
                regexp_matches(text, '\b(invoices?|billed|billing|bills?|charged?|charges|fees?)\b')
                or regexp_matches(text, '\b(refunds?|refunded|payments?|subscriptions?|discount)\b')
                then 'billing'
        end as label
    from kept_documents
)

select * from final
