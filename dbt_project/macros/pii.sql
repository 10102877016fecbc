{#-
    PII detection and redaction in plain DuckDB SQL (RE2 regular expressions and list
    lambdas); docs/cleaning/pii.md explains the rules and their limits.

    One regular expression finds every candidate of every detector in a single pass over
    the text: the alternation, in detector order, of `LEAD(?:CORE)TAIL` where
      LEAD  is one character that may precede the candidate (the text is scanned with a
            space in front, so a candidate at the start has one too); it excludes letters,
            digits and the detector's own punctuation, so a candidate never starts inside a
            longer token (RE2 has no look-behind),
      CORE  is the detector's pattern,
      TAIL  greedily swallows what would continue the token (`1.2.3.4.5`, `4111…1111-22`),
            so a candidate that is only part of a longer token no longer matches the core
            (RE2 has no look-ahead either).
    RE2 takes the leftmost match and, at one position, the first alternative that matches,
    so every stretch of text belongs to at most one detector. A hit is then assigned to the
    first detector whose `LEAD(?:CORE)TAIL` it matches in full, and it is a MATCH when it
    has the detector's exact shape (no tail) and passes its checks (octets <= 255, Luhn,
    ISO 13616 mod 97, SSN ranges, …). Only matches are counted and redacted; other hits are
    left as they are (a mistyped IBAN is neither an IBAN nor, piecewise, a phone number).
-#}

{#- Entity types, in the order of the count columns. -#}
{% macro pii_types() -%}
    {{ return(['email', 'phone', 'ip_address', 'credit_card', 'iban', 'us_ssn']) }}
{%- endmacro %}

{#-
    Detectors in alternation order (it decides only between hits starting at the same
    character), and the type each one counts as. E-mail first (local parts hold digits),
    then the checksummed numbers (an IBAN's digit groups look like a card or a phone
    number), then phone numbers before IP addresses (`01.42.68.53.00` is a French phone
    number, not a malformed IPv4 address; no phone pattern accepts a valid address).
-#}
{% macro pii_detectors() -%}
    {{ return([
        {'name': 'email', 'type': 'email'},
        {'name': 'iban', 'type': 'iban'},
        {'name': 'credit_card', 'type': 'credit_card'},
        {'name': 'us_ssn', 'type': 'us_ssn'},
        {'name': 'phone_international', 'type': 'phone'},
        {'name': 'phone_national', 'type': 'phone'},
        {'name': 'ipv6', 'type': 'ip_address'},
        {'name': 'ipv4', 'type': 'ip_address'},
    ]) }}
{%- endmacro %}

{#- Token of a type: var pii_redaction_tokens overrides the defaults key by key. -#}
{% macro pii_redaction_token(type) -%}
    {%- set tokens = {
        'email': '<EMAIL>', 'phone': '<PHONE>', 'ip_address': '<IP_ADDRESS>',
        'credit_card': '<CREDIT_CARD>', 'iban': '<IBAN>', 'us_ssn': '<US_SSN>',
    } -%}
    {%- set configured = var('pii_redaction_tokens', {}) or {} -%}
    {%- for key in configured -%}
        {%- if key not in pii_types() -%}
            {{ exceptions.raise_compiler_error(
                "var pii_redaction_tokens has unknown type '" ~ key ~ "'; use one of " ~ pii_types() | join(', ')
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {%- do tokens.update(configured) -%}
    {{ sql_string_literal(tokens[type]) }}
{%- endmacro %}

{#- Is a type redacted? var pii_redact_types (a list; default every type). -#}
{% macro pii_is_redacted(type) -%}
    {%- set redacted = var('pii_redact_types', pii_types()) -%}
    {%- if redacted is string -%}
        {%- set redacted = [redacted] -%}
    {%- endif -%}
    {%- for name in redacted or [] -%}
        {%- if name not in pii_types() -%}
            {{ exceptions.raise_compiler_error(
                "var pii_redact_types has unknown type '" ~ name ~ "'; use any of " ~ pii_types() | join(', ')
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(type in (redacted or [])) }}
{%- endmacro %}

{#- A detector's `LEAD(?:CORE)TAIL`, raw (no quotes). -#}
{% macro pii_detector_pattern(detector) -%}
    {{ pii_lead_class(detector) }}(?:(?:{{ pii_core_pattern(detector) }}){{ pii_tail_pattern(detector) }})
{%- endmacro %}

{#- A cheap necessary condition for a hit to be the detector's (saves most full matches), with a trailing `and`. -#}
{% macro pii_hit_gate(detector, hit) -%}
    {%- if detector == 'email' -%} contains({{ hit }}, '@') and
    {%- elif detector == 'iban' -%} substr({{ hit }}, 2, 1) between 'A' and 'Z' and
    {%- elif detector == 'ipv6' -%} contains({{ hit }}, ':') and
    {%- endif -%}
{%- endmacro %}

{#- The single-pass candidate pattern as a SQL literal: every detector's pattern, in order. -#}
{% macro pii_candidate_pattern() -%}
    '{%- for detector in pii_detectors() -%}
        {{ pii_detector_pattern(detector.name) }}{{ '|' if not loop.last }}
    {%- endfor -%}'
{%- endmacro %}

{#- Redaction token of a detector's hit, as a SQL case over the column holding the detector name. -#}
{% macro pii_token_case(detector_column) -%}
    case {{ detector_column }}
        {%- for detector in pii_detectors() %}
            when '{{ detector.name }}' then {{ pii_redaction_token(detector.type) }}
        {%- endfor %}
    end
{%- endmacro %}

{#- SQL list literal of the detectors whose type is redacted (var pii_redact_types). -#}
{% macro pii_redacted_detectors() -%}
    [
        {%- for detector in pii_detectors() if pii_is_redacted(detector.type) -%}
            '{{ detector.name }}'{{ ', ' if not loop.last }}
        {%- endfor -%}
    ]::varchar[]
{%- endmacro %}

{#-
    CTEs scanning `text_column` of the relation or CTE `input_relation`. The last one,
    `pii_scanned`, holds every input column plus
      pii_found            the hits: list of {detector, lead, text, is_match},
      pii_<type>_count     matches per type (pii_types), and pii_total_count,
      pii_<type>_matches   the matched texts per type, in order,
      pii_redacted_text    the text with every match of a redacted type replaced by its token.
    Redaction splits the text at the same pattern (regexp_split_to_array yields the pieces
    between the hits that regexp_extract_all returned, one more than there are hits) and
    zips the pieces back together with each hit or its token; documents without a match to
    redact skip it. Use as
        with docs as (...), {{ pii_scan_ctes('docs', 'normalized_text') }}, final as (...)
-#}
{% macro pii_scan_ctes(input_relation, text_column) -%}
    pii_hits as (
        select
            *,
            regexp_extract_all(' ' || {{ text_column }}, {{ pii_candidate_pattern() }}, 0) as pii_hits
        from {{ input_relation }}
    ),

    pii_classified as (
        select
            *,
            list_transform(
                pii_hits,
                lambda pii_hit: {
                    'detector': case
                        {%- for detector in pii_detectors() %}
                            when {{ pii_hit_gate(detector.name, 'pii_hit') }}
                                regexp_full_match(pii_hit, '{{ pii_detector_pattern(detector.name) }}')
                                then '{{ detector.name }}'
                        {%- endfor %}
                    end,
                    'lead': left(pii_hit, 1),
                    'text': substr(pii_hit, 2)
                }
            ) as pii_classified
        from pii_hits
    ),

    pii_checked as (
        select
            *,
            list_transform(
                pii_classified,
                lambda pii_c: {
                    'detector': pii_c.detector,
                    'lead': pii_c.lead,
                    'text': pii_c.text,
                    'is_match': case pii_c.detector
                        {%- for detector in pii_detectors() %}
                            when '{{ detector.name }}' then case
                                when not ({{ pii_shape(detector.name, 'pii_c.text') }}) then false
                                else coalesce({{ pii_checks(detector.name, 'pii_c.text') }}, false)
                            end
                        {%- endfor %}
                        else false
                    end
                }
            ) as pii_found
        from pii_classified
    ),

    pii_scanned as (
        select
            *,
            {%- for type in pii_types() %}
                {%- set names = [] %}
                {%- for detector in pii_detectors() if detector.type == type %}
                    {%- do names.append("'" ~ detector.name ~ "'") %}
                {%- endfor %}
                coalesce(len(list_filter(
                    pii_found, lambda pii_f: pii_f.is_match and pii_f.detector in ({{ names | join(', ') }})
                )), 0) as pii_{{ type }}_count,
                list_transform(
                    list_filter(pii_found, lambda pii_f: pii_f.is_match and pii_f.detector in ({{ names | join(', ') }})),
                    lambda pii_f: pii_f.text
                ) as pii_{{ type }}_matches,
            {%- endfor %}
            coalesce(len(list_filter(pii_found, lambda pii_f: pii_f.is_match)), 0) as pii_total_count,
            case
                when coalesce(len(list_filter(
                    pii_found,
                    lambda pii_f: pii_f.is_match and list_contains({{ pii_redacted_detectors() }}, pii_f.detector)
                )), 0) = 0
                    then {{ text_column }}
                else substr(array_to_string(list_transform(
                    list_zip(
                        regexp_split_to_array(' ' || {{ text_column }}, {{ pii_candidate_pattern() }}),
                        list_transform(
                            pii_found,
                            lambda pii_f: pii_f.lead || case
                                when pii_f.is_match and list_contains({{ pii_redacted_detectors() }}, pii_f.detector)
                                    then {{ pii_token_case('pii_f.detector') }}
                                else pii_f.text
                            end
                        )
                    ),
                    lambda pii_z: pii_z[1] || coalesce(pii_z[2], '')
                ), ''), 2)
            end as pii_redacted_text
        from pii_checked
    )
{%- endmacro %}
