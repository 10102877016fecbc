{{ config(tags=['cleaning']) }}
{#-
    Every per-document screen in one row, before deduplication: length, the quality rules
    (int_documents_quality and int_documents_repetition) and which of the failed rules drop
    the document (var quality_drop_rules, or quality_drop_rules_by_source[source_name]).
    screen_drop_reason is the FIRST reason that applies, in this order: empty_text,
    too_short, language (int_documents_language: not in var allowed_languages or below
    var min_language_confidence), then the failed dropping rules in the order of the
    configured list.
-#}
{%- set default_rules = var('quality_drop_rules') -%}
{%- set by_source = var('quality_drop_rules_by_source') or {} -%}


with

int_documents_normalized as (
    -- The incremental tables keep the rows of a source removed from refinery.yml (they come
    -- back if it is added again); from here on only configured sources count.
    select * from {{ ref('int_documents_normalized') }}
    where {{ is_configured_source('source_name') }}
),

int_documents_quality as (
    select * from {{ ref('int_documents_quality') }}
),

int_documents_repetition as (
    select * from {{ ref('int_documents_repetition') }}
),

int_documents_language as (
    select * from {{ ref('int_documents_language') }}
),

combined as (
    select
        normalized.document_id,
        normalized.source_name,
        normalized.stream_name,
        normalized.source_key,
        normalized.extracted_at,
        normalized.first_extracted_at,
        normalized.content_hash,
        normalized.text_chars,
        language.language,
        language.language_confidence,
        -- Evaluated here, not read from the incremental model, so changing allowed_languages or
        -- min_language_confidence acts on the next build without a full refresh.
        {{ language_allowed('language.language', 'language.language_confidence') }} as is_language_allowed,
        list_concat(
            coalesce(quality.failed_quality_rules, []::varchar[]),
            coalesce(repetition.failed_repetition_rules, []::varchar[])
        ) as failed_quality_rules,
        {%- if by_source %}
        case
            {%- for source, rules in by_source.items() %}
            when normalized.source_name = {{ sql_string_literal(source) }} then {{ string_list_literal(rules) }}
            {%- endfor %}
            else {{ string_list_literal(default_rules) }}
        end as drop_rules
        {%- else %}
            {{ string_list_literal(default_rules) }} as drop_rules
        {%- endif %}
    from int_documents_normalized as normalized
    left join int_documents_quality as quality
        on normalized.document_id = quality.document_id
    left join int_documents_repetition as repetition
        on normalized.document_id = repetition.document_id
    left join int_documents_language as language
        on normalized.document_id = language.document_id
),

final as (
    select
        document_id,
        source_name,
        stream_name,
        source_key,
        extracted_at,
        first_extracted_at,
        content_hash,
        text_chars,
        language,
        language_confidence,
        is_language_allowed,
        failed_quality_rules,
        list_filter(drop_rules, rule -> list_contains(failed_quality_rules, rule)) as dropping_rules,
        case
            when content_hash is null then 'empty_text'
            when text_chars <= {{ var('min_text_chars') | int }} then 'too_short'
            when not is_language_allowed then 'language'
            else list_filter(drop_rules, rule -> list_contains(failed_quality_rules, rule))[1]
        end as screen_drop_reason
    from combined
)

select * from final
