{#-
    Text normalization shared by documents and annotation items, so a document's
    `content_hash` and an annotation's `item_hash` agree on the same text. In order:
      0. mojibake repair (var fix_mojibake, macro fix_mojibake: ftfy on flagged texts only);
      1. line endings: CR LF, CR, U+2028 and U+2029 become LF;
      2. HTML remnants: <script>/<style> blocks and
         comments dropped, block tags (p, div, br, li, h1-h6, tr, pre, …) become a line
         break, every other tag a space (so `</b><i>` does not glue words together);
      3. the common entities (&nbsp; &lt; &gt; &quot; &#39; &#x27; &apos;, and &amp; last so
         `&amp;lt;` stays `&lt;`);
      4. Markdown remnants, when var strip_markdown_syntax is true: images `![alt](url)` and
         links `[text](url)` keep their text, heading marks `#`, `**`/`__` emphasis, inline
         backticks and code-fence lines go; list bullets stay (they are a quality signal);
      5. control characters (C0 except TAB/LF, DEL, C1), byte-order marks, zero-width
         spaces and soft hyphens are dropped;
      6. the Unicode normalization form (var unicode_normalization_form, NFC or NFKC:
         macro unicode_normalize);
      7. horizontal whitespace (tabs, no-break and other Unicode spaces) collapses to one
         space, spaces around line breaks go, 3+ line breaks become one blank line
         (a paragraph break), and the text is trimmed.
    Line breaks are kept: the line- and paragraph-level quality signals need them.
    NULL stays NULL.
-#}
{% macro normalize_text(expression) -%}
    {%- set block_tags = 'p|div|br|hr|li|ul|ol|dl|dt|dd|h[1-6]|tr|table|pre|blockquote|section|article|header|footer|nav|aside|main|figure|figcaption|form|title' -%}
    {%- set source = fix_mojibake(expression) if var('fix_mojibake', true) else expression -%}
    {%- set text = "regexp_replace(" ~ source ~ ", '\\r\\n?|[\\x{2028}\\x{2029}]', chr(10), 'g')" -%}
    {%- set text -%}
            regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
                {{ text }},
                '(?is)<script\b[^>]*>.*?</script\s*>', ' ', 'g'),
                '(?is)<style\b[^>]*>.*?</style\s*>', ' ', 'g'),
                '(?s)<!--.*?-->', ' ', 'g'),
                '(?i)</?(?:{{ block_tags }})\b[^>]*>', chr(10), 'g'),
                '</?[A-Za-z][^>]*>', ' ', 'g')
    {%- endset -%}
    {%- set text -%}
            replace(replace(replace(replace(replace(replace(replace(replace(
                {{ text }},
                '&nbsp;', ' '), '&lt;', '<'), '&gt;', '>'), '&quot;', '"'),
                '&#39;', ''''), '&#x27;', ''''), '&apos;', ''''), '&amp;', '&')
    {%- endset -%}
    {%- if var('strip_markdown_syntax', true) -%}
        {%- set text -%}
                regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
                    {{ text }},
                    '(?m)^[ \t]*(?:```|~~~).*$', '', 'g'),
                    '!?\[([^\]\n]*)\]\([^)\n]*\)', '\1', 'g'),
                    '(?m)^[ \t]{0,3}#{1,6}[ \t]+', '', 'g'),
                    '(\*\*|__)([^\n]+?)(\*\*|__)', '\2', 'g'),
                    '`([^`\n]+)`', '\1', 'g')
        {%- endset -%}
    {%- endif -%}
    {%- set text -%}
        regexp_replace({{ text }}, '[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\x{FEFF}\x{200B}\x{00AD}]', '', 'g')
    {%- endset -%}
    trim(regexp_replace(regexp_replace(regexp_replace(
        {{ unicode_normalize(text) }},
        '[\t\f\v\p{Zs}]+', ' ', 'g'),
        ' ?\n ?', chr(10), 'g'),
        '\n{3,}', chr(10) || chr(10), 'g'), ' ' || chr(10))
{%- endmacro %}

{#-
    The content hash of an already normalized text: md5 of its lowercase form with every
    run of whitespace (line breaks included) read as one space, so case and layout
    variants count as exact duplicates. Empty text has no hash (NULL).
-#}
{% macro text_hash(normalized_expression) -%}
    md5(lower(regexp_replace(nullif({{ normalized_expression }}, ''), '\s+', ' ', 'g')))
{%- endmacro %}
