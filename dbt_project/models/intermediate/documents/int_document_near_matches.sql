{{
    config(
        materialized='incremental',
        unique_key='document_id',
        incremental_strategy='delete+insert',
        tags=['cleaning'],
        pre_hook=[
            "{% if is_incremental() %}
                delete from {{ this }} where matched_document_id in (
                    select document_id from {{ ref('int_document_minhash') }}
                    where {{ newer_than_this_build() }}
                )
            {% endif %}"
        ],
    )
}}
{#-
    Near-duplicate matches, oriented from the newer document to each OLDER document it
    shares an LSH band with and whose exact n-gram Jaccard is at least
    var near_duplicate_jaccard_threshold ("older" = earlier extracted_at, then smaller
    document_id). Every document of the batch gets at least one row (matched_document_id
    NULL when it matched nothing) so the watermark moves even when nothing matches. A new
    batch is compared against the signatures already stored, never recomputing them; the
    pre-hook drops rows pointing at a document that has a new version in the batch.
    Exact duplicates (same content_hash) are left to exact dedup.
-#}
{%- set n = var('minhash_ngram_size') | int -%}

with

int_document_minhash as (
    select * from {{ ref('int_document_minhash') }}
),

batch as (
    select * from int_document_minhash
    {% if is_incremental() %}
        where {{ newer_than_this_build() }}
    {% endif %}
),

batch_bands as (
    select
        document_id,
        extracted_at,
        content_hash,
        unnest(band_hashes) as band_hash
    from batch
),

all_bands as (
    select
        document_id,
        extracted_at,
        content_hash,
        unnest(band_hashes) as band_hash
    from int_document_minhash
),

candidates as (
    select distinct
        batch_bands.document_id,
        all_bands.document_id as matched_document_id
    from batch_bands
    inner join all_bands
        on batch_bands.band_hash = all_bands.band_hash
    where
        batch_bands.content_hash != all_bands.content_hash
        and (
            all_bands.extracted_at < batch_bands.extracted_at
            or (
                all_bands.extracted_at = batch_bands.extracted_at
                and all_bands.document_id < batch_bands.document_id
            )
        )
),

candidate_documents as (
    select document_id from candidates
    union
    select matched_document_id from candidates
),

candidate_words as (
    select
        normalized.document_id,
        list_transform({{ text_words('normalized.normalized_text') }}, w -> hash(w)) as hs
    from {{ ref('int_documents_normalized') }} as normalized
    inner join candidate_documents
        on normalized.document_id = candidate_documents.document_id
),

candidate_shingles as (
    select
        document_id,
        list_distinct({{ ngram_hashes('hs', n) }}) as shingles
    from candidate_words
),

verified as (
    select
        candidates.document_id,
        candidates.matched_document_id,
        len(list_intersect(a.shingles, b.shingles))
        / len(list_distinct(list_concat(a.shingles, b.shingles))) as jaccard
    from candidates
    inner join candidate_shingles as a
        on candidates.document_id = a.document_id
    inner join candidate_shingles as b
        on candidates.matched_document_id = b.document_id
),

matches as (
    select * from verified
    where jaccard >= {{ var('near_duplicate_jaccard_threshold') }}
),

final as (
    select
        batch.document_id,
        batch.extracted_at,
        matches.matched_document_id,
        matches.jaccard
    from batch
    left join matches
        on batch.document_id = matches.document_id
)

select * from final
