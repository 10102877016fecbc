{#-
    The words of a text, as the quality signals and near-duplicate shingles read them: the
    text lowercased, every character of the punctuation set below turned into a space
    (translate(), one pass, much faster than a Unicode-class regex), split on spaces,
    empty strings dropped. So `Don't stop—now!` is [don, t, stop, now]. Letters and digits
    of every script stay; a symbol outside the set (e.g. ©) stays inside its word.
-#}
{% macro text_words(expression) -%}
    {%- set punctuation = ".,;:!?\"()[]{}<>/\\|@#$%^&*+=~`'_\n\t\r“”‘’«»„‹›—–‒―…·•‣◦⁃-" -%}
    list_filter(
        string_split(
            translate(lower(coalesce({{ expression }}, '')), {{ sql_string_literal(punctuation) }},
                {{ sql_string_literal(' ' * (punctuation | length)) }}),
            ' '
        ),
        w -> w != ''
    )
{%- endmacro %}

{#-
    The hashes of the word n-grams of a list of word hashes: for each start position i, the
    hashes of words i … i+n-1 combined as h[i] xor (h[i+1] >> 1) xor … (order-sensitive,
    64-bit). An empty list when there are fewer than n words.
-#}
{% macro ngram_hashes(word_hashes, n) -%}
    {%- set terms = [] -%}
    {%- for k in range(n | int) -%}
        {%- if k == 0 -%}{%- do terms.append(word_hashes ~ '[i]') -%}
        {%- else -%}{%- do terms.append('(' ~ word_hashes ~ '[i + ' ~ k ~ '] >> ' ~ k ~ ')') -%}{%- endif -%}
    {%- endfor -%}
    {%- set ns = namespace(expr=terms[0]) -%}
    {%- for term in terms[1:] -%}{%- set ns.expr = 'xor(' ~ ns.expr ~ ', ' ~ term ~ ')' -%}{%- endfor -%}
    list_transform(range(1, len({{ word_hashes }}) - {{ (n | int) - 2 }}), i -> {{ ns.expr }})
{%- endmacro %}
