{{
    config(
        materialized='incremental',
        unique_key='document_id',
        incremental_strategy='delete+insert',
        tags=['cleaning'],
    )
}}
{#-
    Gopher's n-gram repetition signals (Rae et al. 2021, table A1), apart from the cheaper
    signals in int_documents_quality because they cost more than all of those together.
-#}
{%- set top_ngrams = var('gopher_max_top_ngram_char_fraction') -%}
{%- set dup_ngrams = var('gopher_max_dup_ngram_fraction') -%}
{%- set shortest_dup = dup_ngrams.keys() | map('int') | min -%}

with

int_documents_normalized as (
    select * from {{ ref('int_documents_normalized') }}
    {% if is_incremental() %}
        where {{ newer_than_this_build() }}
    {% endif %}
),

words as (
    select
        document_id,
        extracted_at,
        text_chars,
        list_transform({{ text_words('normalized_text') }}, w -> struct_pack(w := w, h := hash(w)))
            as word_list
    from int_documents_normalized
),

hashed as (
    select
        document_id,
        extracted_at,
        text_chars,
        list_transform(word_list, x -> x.w) as ws,
        list_transform(word_list, x -> x.h) as hs
    from words
),

ngrams as (
    select
        document_id,
        extracted_at,
        text_chars,
        ws,
        hs,
        {%- for n in top_ngrams %}
            {{ ngram_hashes('hs', n) }} as top_hashes_{{ n }},
        {%- endfor %}
        {{ ngram_hashes('hs', shortest_dup) }} as dup_hashes_{{ shortest_dup }}
    from hashed
),

modes as (
    select
        *,
        list_unique(dup_hashes_{{ shortest_dup }}) as dup_distinct_{{ shortest_dup }},
    {%- for n in top_ngrams %}
        list_aggregate(top_hashes_{{ n }}, 'mode')
            as top_hash_{{ n }}{{ "," if not loop.last }}  -- noqa: LT02
    
    {%- endfor %}
    from ngrams
),

-- noqa: disable=LT02
signals as (
    select
        document_id,
        extracted_at,
        '{{ invocation_id }}' as dbt_invocation_id,
        {%- for n in top_ngrams %}
        -- characters of the most frequent {{ n }}-gram times its count, when it occurs twice or more
            coalesce((
                case
                    when len(list_filter(top_hashes_{{ n }}, g -> g = top_hash_{{ n }})) > 1
                        then
                            len(list_filter(top_hashes_{{ n }}, g -> g = top_hash_{{ n }}))
                            * length(array_to_string(
                                ws[
                                    list_position(top_hashes_{{ n }}, top_hash_{{ n }}):
                                    list_position(top_hashes_{{ n }}, top_hash_{{ n }}) + {{ (n | int) - 1 }}
                                ],
                                ' '
                            ))
                    else 0
                end
            ) / nullif(text_chars, 0), 0) as top_{{ n }}gram_char_fraction,
        {%- endfor %}
    {%- for n in dup_ngrams %}
        {%- if n | int == shortest_dup %}
        coalesce(
            (len(dup_hashes_{{ n }}) - dup_distinct_{{ n }}) / nullif(len(dup_hashes_{{ n }}), 0), 0
        ) as dup_{{ n }}gram_fraction{{ "," if not loop.last }}  -- noqa: LT02
        {%- else %}
        -- A repeated {{ n }}-gram contains a repeated {{ shortest_dup }}-gram: without one, nothing to count.
        case
            when len(dup_hashes_{{ shortest_dup }}) = dup_distinct_{{ shortest_dup }} then 0
            else coalesce(
                (greatest(len(hs) - {{ (n | int) - 1 }}, 0) - list_unique({{ ngram_hashes('hs', n) }}))
                / nullif(greatest(len(hs) - {{ (n | int) - 1 }}, 0), 0),
                0
            )
        end as dup_{{ n }}gram_fraction{{ "," if not loop.last }}  -- noqa: LT02
        {%- endif %}
    
    {%- endfor %}
    from modes
),
-- noqa: enable=LT02

final as (
    select
        *,
        list_filter([
            case
                when
                    false
                    {%- for n, limit in top_ngrams.items() %}
                        or top_{{ n }}gram_char_fraction > {{ limit }}
                    {%- endfor %}
                    then 'gopher_top_ngrams'
            end,
            case
                when
                    false
                    {%- for n, limit in dup_ngrams.items() %}
                        or dup_{{ n }}gram_fraction > {{ limit }}
                    {%- endfor %}
                    then 'gopher_dup_ngrams'
            end
        ], rule -> rule is not null) as failed_repetition_rules
    from signals
)

select * from final
