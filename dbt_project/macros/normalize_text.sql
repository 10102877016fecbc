{#-
    Text normalization shared by documents and annotation items, so a document's
    `content_hash` and an annotation's `item_hash` agree on the same text:
      1. drop <script> and <style> blocks and HTML comments (their content is not text),
      2. replace every HTML tag by a space (so `</p><p>` does not glue words together),
      3. decode the common entities (&nbsp; &lt; &gt; &quot; &#39; &#x27; &apos;, and
         &amp; last so `&amp;lt;` stays `&lt;`),
      4. drop byte-order marks and zero-width spaces (U+FEFF, U+200B), which are invisible
         but would make two copies of a file differ,
      5. Unicode NFC, 6. collapse all whitespace (incl. no-break spaces) to one space, trim.
    NULL stays NULL.
-#}
{% macro normalize_text(expression) -%}
    trim(regexp_replace(nfc_normalize(regexp_replace(
        replace(replace(replace(replace(replace(replace(replace(replace(
            regexp_replace(regexp_replace(regexp_replace(regexp_replace(
                {{ expression }},
                '(?is)<script\b[^>]*>.*?</script\s*>', ' ', 'g'),
                '(?is)<style\b[^>]*>.*?</style\s*>', ' ', 'g'),
                '(?s)<!--.*?-->', ' ', 'g'),
                '</?[A-Za-z][^>]*>', ' ', 'g'),
            '&nbsp;', ' '), '&lt;', '<'), '&gt;', '>'), '&quot;', '"'),
            '&#39;', ''''), '&#x27;', ''''), '&apos;', ''''), '&amp;', '&'),
        '[\x{FEFF}\x{200B}]', '', 'g')
    ), '[\s\p{Z}]+', ' ', 'g'))
{%- endmacro %}

{#-
    The content hash of an already normalized text: md5 of its lowercase form, so case
    variants count as exact duplicates. Empty text has no hash (NULL).
-#}
{% macro text_hash(normalized_expression) -%}
    md5(lower(nullif({{ normalized_expression }}, '')))
{%- endmacro %}
