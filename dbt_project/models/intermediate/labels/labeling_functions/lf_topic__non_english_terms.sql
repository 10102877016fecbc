-- Labeling function (docs/labeling/weak-supervision.md), task topic: the few German and
-- Spanish tickets the English word lists miss. Two labels (polarity [billing, shipping]):
-- order/parcel words vote shipping, charge/invoice words vote billing, else NULL (abstain).
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
            when regexp_matches(text, '\b(bestellung|sendung\w*|paket\w*|lieferung|pedido no|env[ií]o)\b')
                then 'shipping'
            when regexp_matches(text, '\b(rechnung|abbuchung|cobrado|cobro|factura)\b')
                then 'billing'
        end as label
    from kept_documents
)

select * from final
