{{
    config(
        materialized='incremental',
        unique_key='document_id',
        incremental_strategy='delete+insert',
        tags=['cleaning'],
    )
}}
{#-
    MinHash signature of each document's word n-gram set, cut into LSH bands (Broder 1997;
    bands x rows as in FineWeb), computed by one-permutation hashing (Li, Owen and Zhang
    2012): one hash per n-gram instead of bands x rows of them. Each of the bands x rows
    bins keeps the minimum of the hashes that fall into it; two documents agree on a bin with
    probability ~ their Jaccard, like two classic MinHash rows. A band hash covers `rows`
    consecutive bins. Documents with fewer words than one n-gram get no signature (they
    cannot be near-duplicates by this test). Candidates are verified exactly downstream.
-#}
{%- set n = var('minhash_ngram_size') | int -%}
{%- set bands = var('minhash_bands') | int -%}
{%- set rows = var('minhash_rows_per_band') | int -%}
{%- set seed = var('minhash_seed') | int -%}

with

int_documents_normalized as (
    select * from {{ ref('int_documents_normalized') }}
    where content_hash is not null
    {% if is_incremental() %}
        and {{ newer_than_this_build() }}
    {% endif %}
),

word_hashes as (
    select
        document_id,
        extracted_at,
        content_hash,
        list_transform({{ text_words('normalized_text') }}, w -> hash(w)) as hs
    from int_documents_normalized
),

shingles as (
    -- One hash per n-gram occurrence (repeats do not change a minimum); seeded by an xor.
    select
        document_id,
        extracted_at,
        content_hash,
        hash(xor(unnest({{ ngram_hashes('hs', n) }}), {{ seed }}::ubigint)) as shingle_hash
    from word_hashes
    where len(hs) >= {{ n }}
),

bins as (
    -- One-permutation hashing: a shingle's hash picks its bin (of bands x rows) and the
    -- rest of the hash is its value; a bin's minimum plays the part of one permutation's.
    select
        document_id,
        any_value(extracted_at) as extracted_at,
        any_value(content_hash) as content_hash,
        shingle_hash % {{ bands * rows }} as bin,
        min(shingle_hash // {{ bands * rows }}) as bin_min
    from shingles
    group by document_id, bin
),

band_rows as (
    -- A band hash covers its bins' (bin, minimum) pairs; a bin no shingle fell into is simply
    -- absent, so two documents share a band only when the same bins are filled alike.
    select
        document_id,
        any_value(extracted_at) as extracted_at,
        any_value(content_hash) as content_hash,
        bin // {{ rows }} as band,
        hash(bin // {{ rows }}, list(struct_pack(bin := bin, bin_min := bin_min) order by bin)) as band_hash
    from bins
    group by document_id, band
),

final as (
    select
        document_id,
        any_value(extracted_at) as extracted_at,
        any_value(content_hash) as content_hash,
        '{{ invocation_id }}' as dbt_invocation_id,
        list(band_hash order by band) as band_hashes
    from band_rows
    group by document_id
)

select * from final
