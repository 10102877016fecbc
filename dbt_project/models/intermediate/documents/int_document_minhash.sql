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
{%- set bins = bands * rows -%}
{#- bits that hold a bin number (bins <= 2^bin_bits) -#}
{%- set bin_bits = (bins - 1).bit_length() -%}

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
    -- One hash per n-gram occurrence (repeats do not change a minimum), seeded by an xor, and
    -- packed as one sortable key: the bin it falls into (hash % bins) in the top {{ bin_bits }} bits,
    -- the rest of the hash (hash // bins, halved to fit) below. One-permutation hashing: a bin's
    -- minimum plays the part of one permutation's minimum.
    select
        document_id,
        extracted_at,
        content_hash,
        list_sort(list_transform(
            list_transform({{ ngram_hashes('hs', n) }}, h -> hash(xor(h, {{ seed }}::ubigint))),
            x -> ((x % {{ bins }}) << {{ 64 - bin_bits }}) | ((x // {{ bins }}) >> 1)
        )) as keys
    from word_hashes
    where len(hs) >= {{ n }}
),

bin_minimums as (
    -- Sorted keys run bin by bin, each bin's smallest first: keep the first key of every bin.
    -- All per document, with list functions: no row per n-gram, so memory stays flat.
    select
        document_id,
        extracted_at,
        content_hash,
        list_filter(
            keys, (k, i) -> i = 1 or (k >> {{ 64 - bin_bits }}) != (keys[i - 1] >> {{ 64 - bin_bits }})
        ) as minimums
    from shingles
),

bin_bands as (
    select
        *,
        list_transform(minimums, k -> (k >> {{ 64 - bin_bits }}) // {{ rows }}) as minimum_bands
    from bin_minimums
),

final as (
    -- A band hash covers its bins' minimums (bin included in the key); a bin no shingle fell
    -- into is simply absent, so two documents share a band only when the same bins are filled
    -- alike. A band with no filled bin has no hash.
    select
        document_id,
        extracted_at,
        content_hash,
        '{{ invocation_id }}' as dbt_invocation_id,
        list_transform(
            list_filter(range({{ bands }}), band -> list_contains(minimum_bands, band)),
            band -> hash(band, list_filter(minimums, k -> (k >> {{ 64 - bin_bits }}) // {{ rows }} = band))
        ) as band_hashes
    from bin_bands
)

select * from final
