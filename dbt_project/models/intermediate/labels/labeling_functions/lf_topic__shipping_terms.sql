-- Labeling function (docs/labeling/weak-supervision.md), task topic: delivery vocabulary
-- (parcel, package, delivery, courier, tracking, shipping, arrived, carrier names, customs,
-- warehouse, box).
-- One row per kept document: 'shipping' when the lower-cased text matches, else NULL (abstain).
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
                regexp_matches(text, '\b(parcels?|packages?|deliver(y|ed)?|courier|tracking|shipping)\b')
                or regexp_matches(text, '\b(shipped|ships|arrived?|postnl|dhl|customs|warehouse|box)\b')
                then 'shipping'
        end as label
    from kept_documents
)

select * from final
