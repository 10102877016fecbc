-- Labeling function (docs/labeling/weak-supervision.md), task topic: account vocabulary
-- (account, password, login, two-factor, authenticator, profile, e-mail address, personal
-- data, GDPR, merge).
-- One row per kept document: 'account' when the lower-cased text matches, else NULL (abstain).
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
                regexp_matches(text, '\b(accounts?|passwords?|log ?in|login|two-factor|2fa|authenticator)\b')
                or regexp_matches(text, '\b(profile|e-mail address|personal data|gdpr|merge)\b')
                then 'account'
        end as label
    from kept_documents
)

select * from final
