{#-
    Mojibake repair: UTF-8 text that was decoded as Windows-1252 or Latin-1 somewhere
    upstream ("CafÃ©", "doesnâ€™t", "Ð¿Ñ€Ð¸Ð²ÐµÑ‚"). Every such text contains a UTF-8 lead
    byte read as a Latin-1 letter (U+00C2–U+00F4: Â … ô) directly followed by a continuation
    byte read as Windows-1252 or Latin-1 (U+0080–U+00BF, or one of the 27 characters
    Windows-1252 puts at 0x80–0x9F: € ‚ ƒ „ … † ‡ ˆ ‰ Š ‹ Œ Ž ‘ ’ “ ” • – — ˜ ™ š › œ ž Ÿ).
    Only texts with such a pair go to the Python UDF refinery_fix_encoding (ftfy.fix_encoding),
    so clean ASCII and most clean text cost one regex scan. ftfy decides on the flagged ones
    and leaves legitimate text alone ("NÃO", "«café»"). Apply it to the raw text, BEFORE
    control characters and whitespace are cleaned: C1 controls are part of the evidence.
    Not repaired: UTF-8 read as other code pages (Windows-1251 "РџСЂРёРІРµС‚", MacRoman);
    see docs/cleaning/language.md. NULL stays NULL.
-#}
{% macro fix_mojibake(expression) -%}
    case
        when regexp_matches(
            {{ expression }},
            '{{ mojibake_pattern() }}'
        )
            then refinery_fix_encoding({{ expression }})
        else {{ expression }}
    end
{%- endmacro %}

{#- The RE2 pattern of fix_mojibake: a lead-byte letter followed by a continuation-byte character. -#}
{% macro mojibake_pattern() -%}
    [\x{C2}-\x{F4}][\x{80}-\x{BF}\x{152}\x{153}\x{160}\x{161}\x{178}\x{17D}\x{17E}\x{192}\x{2C6}\x{2DC}\x{2013}\x{2014}\x{2018}-\x{201A}\x{201C}-\x{201E}\x{2020}-\x{2022}\x{2026}\x{2030}\x{2039}\x{203A}\x{20AC}\x{2122}]
{%- endmacro %}

{#-
    Unicode normalization in the form of var unicode_normalization_form:
      NFC  (default) canonical composition, DuckDB's nfc_normalize: "e" + U+0301 → "é";
      NFKC also folds compatibility characters, through the Python UDF refinery_nfkc:
           "ﬁ" → "fi", "²" → "2", full-width "Ａ" → "A", "…" → "...". The expression
           appears once, so the macro can wrap a long nested expression. (An ASCII pre-check
           in SQL was slower than Python's own quick check: 1.0 vs 0.5 CPU-s per 135 MB.)
    Anything else is a compilation error naming the var.
-#}
{% macro unicode_normalize(expression) -%}
    {%- set form = var('unicode_normalization_form', 'NFC') | string | upper -%}
    {%- if form == 'NFC' -%}
        nfc_normalize({{ expression }})
    {%- elif form == 'NFKC' -%}
        refinery_nfkc({{ expression }})
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "var unicode_normalization_form is '" ~ form ~ "'; use 'NFC' (default) or 'NFKC'"
        ) }}
    {%- endif -%}
{%- endmacro %}

{#-
    The boolean language gate of int_documents_language: the detected language is in var
    allowed_languages (an empty list allows every language) and its confidence is at least
    var min_language_confidence. A document without a detected language (no text) is not allowed.
-#}
{% macro language_allowed(language, confidence) -%}
    {%- set allowed = var('allowed_languages', []) -%}
    {%- if allowed is string -%}
        {%- set allowed = allowed.split(',') | map('trim') | reject('equalto', '') | list -%}
    {%- endif -%}
    coalesce(
        {%- if allowed | length > 0 %}
        {{ language }} in (
            {%- for code in allowed %}{{ sql_string_literal(code | string | lower) }}
            {%- if not loop.last %}, {% endif %}{% endfor -%}
        )
        and {% endif %}
        {{ confidence }} >= {{ var('min_language_confidence') | float }},
        false
    )
{%- endmacro %}
