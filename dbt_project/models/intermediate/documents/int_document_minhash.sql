{{
    config(
        materialized='incremental',
        unique_key='document_id',
        incremental_strategy='delete+insert',
        tags=['cleaning'],
    )
}}
{#-
    MinHash signature of each document's word n-gram set, cut into LSH bands
    (Broder 1997; bands x rows as in FineWeb). Permutation k of a shingle hash s is
    hash(s, seed, k); a band hash is the hash of its rows' minima. Documents with fewer
    words than one n-gram get no signature (they cannot be near-duplicates by this test).
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
        and extracted_at > (
            select coalesce(max(extracted_at), '-infinity'::timestamp with time zone)
            from {{ this }}
        )
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
    select
        document_id,
        extracted_at,
        content_hash,
        unnest(list_distinct({{ ngram_hashes('hs', n) }})) as shingle
    from word_hashes
    where len(hs) >= {{ n }}
),

signatures as (
    select
        document_id,
        any_value(extracted_at) as extracted_at,
        any_value(content_hash) as content_hash,
        count(*) as shingle_count,
    {%- for k in range(bands * rows) %}
        min(hash(shingle, {{ seed }}, {{ k }})) as m{{ k }}{{ "," if not loop.last }}  -- noqa: LT02
    
    {%- endfor %}
    from shingles
    group by document_id
),

final as (
    select
        document_id,
        extracted_at,
        content_hash,
        shingle_count,
        [
            {%- for b in range(bands) %}
                {%- set members = [] %}
                {%- for r in range(rows) %}{% do members.append('m' ~ (b * rows + r)) %}{% endfor %}
                hash({{ b }}, {{ members | join(', ') }}){{ "," if not loop.last }}  -- noqa: LT02
            {%- endfor %}
        ] as band_hashes
    from signatures
)

select * from final
