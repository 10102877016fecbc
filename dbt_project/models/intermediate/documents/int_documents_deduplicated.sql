with

int_documents_normalized as (
    select * from {{ ref('int_documents_normalized') }}
),

length_checked as (
    select
        *,
        case
            when normalized_text is null or normalized_text = '' then 'empty_text'
            when text_chars <= {{ var('min_text_chars') | int }} then 'too_short'
        end as length_drop_reason
    from int_documents_normalized
),

ranked as (
    select
        *,
        first_value(document_id) over (
            partition by content_hash
            order by
                first_extracted_at asc,
                source_name asc,
                stream_name asc,
                source_key asc,
                document_id asc
        ) as winner_document_id
    from length_checked
    where length_drop_reason is null
),

final as (
    select
        length_checked.document_id,
        length_checked.source_name,
        length_checked.stream_name,
        length_checked.source_key,
        length_checked.first_extracted_at,
        length_checked.versions_count,
        length_checked.normalized_text,
        length_checked.content_hash,
        length_checked.text_chars,
        case
            when length_checked.length_drop_reason is not null then length_checked.length_drop_reason
            when ranked.winner_document_id != length_checked.document_id then 'exact_duplicate'
        end as drop_reason,
        ranked.winner_document_id as canonical_document_id,
        (
            length_checked.length_drop_reason is null
            and ranked.winner_document_id = length_checked.document_id
        ) as is_kept
    from length_checked
    left join ranked
        on length_checked.document_id = ranked.document_id
)

select * from final
