{{
    config(
        materialized='incremental',
        unique_key='document_id',
        incremental_strategy='delete+insert',
        tags=['cleaning'],
    )
}}
{#- Terminal punctuation of a line (C4, FineWeb), as a list literal of one-character strings. -#}
{%- set terminal_punctuation = "['.', '!', '?', '\"', '''', '”', '’', '»', '…', '。', '！', '？', ')']" -%}
{%- set bullets = "['•', '-', '*', '‣', '⁃', '◦', '·', '–']" -%}

with

int_documents_normalized as (
    select * from {{ ref('int_documents_normalized') }}
    {% if is_incremental() %}
        where {{ newer_than_this_build() }}
    {% endif %}
),

split as (
    select
        document_id,
        source_name,
        extracted_at,
        coalesce(normalized_text, '') as doc_text,
        length(coalesce(normalized_text, '')) as doc_chars,
        -- Whitespace-separated tokens (FineWeb's and C4's "words").
        list_filter(string_split(replace(coalesce(normalized_text, ''), chr(10), ' '), ' '), tok -> tok != '')
            as tokens,
        -- Words: runs of letters and digits, lowercased (Gopher's words, the n-gram words).
        {{ text_words('normalized_text') }} as words,
        list_filter(string_split(coalesce(normalized_text, ''), chr(10)), l -> l != '') as lines,
        list_filter(string_split(coalesce(normalized_text, ''), chr(10) || chr(10)), p -> p != '')
            as paragraphs
    from int_documents_normalized
),

counted as (
    select
        document_id,
        source_name,
        extracted_at,
        doc_chars,
        len(tokens) as token_count,
        len(words) as word_count,
        len(lines) as line_count,
        len(paragraphs) as paragraph_count,
        list_sum(list_transform(words, w -> length(w))) as word_chars,
        len(list_filter(tokens, tok -> regexp_matches(tok, '\p{L}'))) as alpha_token_count,
        len(list_distinct(list_filter(
            words, w -> w in ('the', 'be', 'to', 'of', 'and', 'that', 'have', 'with')
        ))) as stop_word_count,
        length(doc_text) - length(replace(doc_text, '#', '')) as hash_count,
        (length(doc_text) - length(replace(doc_text, '...', ''))) // 3
        + length(doc_text) - length(replace(doc_text, '…', '')) as ellipsis_count,
        length(doc_text) - length(replace(doc_text, chr(10), '')) as newline_count,
        len(list_filter(lines, l -> left(ltrim(l), 1) in {{ bullets }})) as bullet_line_count,
        len(list_filter(lines, l -> suffix(l, '...') or suffix(l, '…'))) as ellipsis_line_count,
        len(list_filter(lines, l -> right(l, 1) in {{ terminal_punctuation }})) as punct_line_count,
        len(list_filter(lines, l -> length(l) <= {{ var('fineweb_short_line_chars') | int }}))
            as short_line_count,
        len(lines) - len(list_distinct(lines)) as dup_line_count,
        list_sum(list_transform(lines, l -> length(l)))
        - coalesce(list_sum(list_transform(list_distinct(lines), l -> length(l))), 0) as dup_line_chars,
        len(paragraphs) - len(list_distinct(paragraphs)) as dup_paragraph_count,
        list_sum(list_transform(paragraphs, p -> length(p)))
        - coalesce(list_sum(list_transform(list_distinct(paragraphs), p -> length(p))), 0)
            as dup_paragraph_chars,
        -- C4: sentences in the lines C4 keeps.
        coalesce(list_sum(list_transform(
            list_filter(
                lines, l ->
                right(l, 1) in {{ terminal_punctuation }}
                and len(string_split(l, ' ')) >= {{ var('c4_min_words_per_line') | int }}
                and not contains(lower(l), 'javascript')
                and not regexp_matches(
                    lower(l),
                    'terms of use|privacy policy|cookie policy|uses cookies|use of cookies|use cookies'
                )
            ),
            l -> len(regexp_extract_all(l, '[.!?…。！？]+[")’”»]*(\s|$)'))
        )), 0) as c4_sentence_count,
        contains(lower(doc_text), 'lorem ipsum') as has_lorem_ipsum,
        contains(doc_text, '{') as has_curly_bracket,
        len(list_filter(lines, l -> contains(lower(l), 'javascript'))) as javascript_line_count
    from split
),

signals as (
    select
        document_id,
        source_name,
        extracted_at,
        doc_chars,
        word_count,
        line_count,
        paragraph_count,
        coalesce(word_chars / nullif(word_count, 0), 0) as mean_word_length,
        coalesce((hash_count + ellipsis_count) / nullif(word_count, 0), 0) as symbol_word_ratio,
        coalesce(bullet_line_count / nullif(line_count, 0), 0) as bullet_lines_ratio,
        coalesce(ellipsis_line_count / nullif(line_count, 0), 0) as ellipsis_lines_ratio,
        coalesce(alpha_token_count / nullif(token_count, 0), 0) as alpha_words_ratio,
        stop_word_count,
        coalesce(dup_line_count / nullif(line_count, 0), 0) as dup_line_fraction,
        coalesce(dup_paragraph_count / nullif(paragraph_count, 0), 0) as dup_paragraph_fraction,
        coalesce(dup_line_chars / nullif(doc_chars, 0), 0) as dup_line_char_fraction,
        coalesce(dup_paragraph_chars / nullif(doc_chars, 0), 0) as dup_paragraph_char_fraction,
        c4_sentence_count,
        has_lorem_ipsum,
        has_curly_bracket,
        javascript_line_count,
        coalesce(punct_line_count / nullif(line_count, 0), 0) as line_punct_ratio,
        coalesce(dup_line_chars / nullif(doc_chars - newline_count, 0), 0) as dup_line_char_ratio,
        coalesce(short_line_count / nullif(line_count, 0), 0) as short_line_ratio,
        coalesce(newline_count / nullif(token_count, 0), 0) as newline_word_ratio,
        '{{ invocation_id }}' as dbt_invocation_id
    from counted
),

final as (
    select
        *,
        list_filter([
            case
                when word_count < {{ var('gopher_min_words') }} or word_count > {{ var('gopher_max_words') }}
                    then 'gopher_word_count'
            end,
            case
                when
                    mean_word_length < {{ var('gopher_min_mean_word_length') }}
                    or mean_word_length > {{ var('gopher_max_mean_word_length') }}
                    then 'gopher_mean_word_length'
            end,
            case
                when symbol_word_ratio > {{ var('gopher_max_symbol_word_ratio') }}
                    then 'gopher_symbol_word_ratio'
            end,
            case
                when bullet_lines_ratio > {{ var('gopher_max_bullet_lines_ratio') }}
                    then 'gopher_bullet_lines'
            end,
            case
                when ellipsis_lines_ratio > {{ var('gopher_max_ellipsis_lines_ratio') }}
                    then 'gopher_ellipsis_lines'
            end,
            case
                when alpha_words_ratio < {{ var('gopher_min_alpha_words_ratio') }}
                    then 'gopher_alpha_words'
            end,
            case when stop_word_count < {{ var('gopher_min_stop_words') }} then 'gopher_stop_words' end,
            case
                when dup_line_fraction > {{ var('gopher_max_dup_line_fraction') }} then 'gopher_dup_lines'
            end,
            case
                when dup_paragraph_fraction > {{ var('gopher_max_dup_para_fraction') }}
                    then 'gopher_dup_paragraphs'
            end,
            case
                when dup_line_char_fraction > {{ var('gopher_max_dup_line_char_fraction') }}
                    then 'gopher_dup_line_chars'
            end,
            case
                when dup_paragraph_char_fraction > {{ var('gopher_max_dup_para_char_fraction') }}
                    then 'gopher_dup_paragraph_chars'
            end,
            case when has_lorem_ipsum then 'c4_lorem_ipsum' end,
            case when has_curly_bracket then 'c4_curly_bracket' end,
            case when c4_sentence_count < {{ var('c4_min_sentences') }} then 'c4_min_sentences' end,
            case
                when line_punct_ratio < {{ var('fineweb_min_line_punct_ratio') }}
                    then 'fineweb_line_punctuation'
            end,
            case
                when dup_line_char_ratio > {{ var('fineweb_max_dup_line_char_ratio') }}
                    then 'fineweb_dup_line_chars'
            end,
            case
                when short_line_ratio > {{ var('fineweb_max_short_line_ratio') }} then 'fineweb_short_lines'
            end,
            case
                when newline_word_ratio > {{ var('fineweb_max_newline_word_ratio') }}
                    then 'fineweb_newline_ratio'
            end
        ], rule -> rule is not null) as failed_quality_rules
    from signals
)

select * from final
