{#-
    The PII detectors' regular expressions and checks (RE2 syntax, used inside SQL string
    literals, so a quote is doubled). How they are combined: macros/pii.sql.
-#}

{#- The core pattern of a detector (RE2 syntax, no capturing groups). -#}
{% macro pii_core_pattern(detector) -%}
    {%- if detector == 'email' -%}
        [A-Za-z0-9_%+-](?:[A-Za-z0-9._%+''-]*[A-Za-z0-9_%+-])?@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}
    {%- elif detector == 'iban' -%}
        {{ iban_pattern(spaced=true) }}
    {%- elif detector == 'credit_card' -%}
        [0-9]{13,19}|[0-9]{4}(?: [0-9]{4}){3}|[0-9]{4}(?:-[0-9]{4}){3}|[0-9]{4} [0-9]{6} [0-9]{4,5}|[0-9]{4}-[0-9]{6}-[0-9]{4,5}
    {%- elif detector == 'us_ssn' -%}
        [0-9]{3}-[0-9]{2}-[0-9]{4}
    {%- elif detector == 'ipv6' -%}
        {#- eight groups, six and an IPv4 tail, or a '::' form; times like 10:30:45 are no hit -#}
        (?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}
        {{- '|' -}}
        (?:[0-9A-Fa-f]{1,4}:){6}[0-9]{1,3}(?:\.[0-9]{1,3}){3}
        {{- '|' -}}
        (?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6}(?:\.[0-9]{1,3}){0,3})?
    {%- elif detector == 'ipv4' -%}
        [0-9]{1,3}(?:\.[0-9]{1,3}){3}
    {%- elif detector == 'phone_international' -%}
        {#- +CC (with an optional (0) trunk) and 00CC with a separator after the country code -#}
        \+[1-9][0-9]{0,2}(?:[ .-]?\(0\))?[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,4})(?:[ .-]?[0-9]{2,5}){1,5}
        {{- '|' -}}
        00[1-9][0-9]{0,2}[ .-](?:\([0-9]{1,4}\)|[0-9]{1,4})(?:[ .-]?[0-9]{2,5}){1,5}
    {%- elif detector == 'phone_national' -%}
        {#- NANP with separators; trunk-0 national numbers (FR, UK, DE, IT, NL, …) -#}
        (?:1[ .-]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}
        {{- '|' -}}
        \(?0[1-9][0-9]{0,4}\)?(?:[ ./-]?[0-9]{2,8}){1,4}
    {%- else -%}
        {{ exceptions.raise_compiler_error("pii: unknown detector '" ~ detector ~ "'") }}
    {%- endif -%}
{%- endmacro %}

{#- Characters that may precede a candidate (a negated class: no letter or digit of any script). -#}
{% macro pii_lead_class(detector) -%}
    {%- if detector == 'email' -%} [^\p{L}\p{N}._%+-]
    {%- elif detector == 'iban' -%} [^\p{L}\p{N}_]
    {%- elif detector == 'ipv6' -%} [^\p{L}\p{N}_:.]
    {%- elif detector == 'ipv4' -%} [^\p{L}\p{N}_.]
    {%- elif detector == 'phone_international' -%} [^\p{L}\p{N}_.,/#+$€£-]
    {#- not after ':' either: `14:05 15.03.2024` is a time and a date -#}
    {%- elif detector == 'phone_national' -%} [^\p{L}\p{N}_.,:/#+$€£-]
    {%- else -%} [^\p{L}\p{N}_.,/#+-]
    {%- endif -%}
{%- endmacro %}

{#- What a candidate swallows after its core, so that a longer token fails the shape test. -#}
{% macro pii_tail_pattern(detector) -%}
    {%- if detector == 'email' -%}
    {%- elif detector == 'iban' -%} [A-Za-z0-9_]*
    {%- elif detector == 'ipv6' -%} (?:[A-Za-z0-9_]|[:.][A-Za-z0-9])*
    {%- elif detector == 'ipv4' -%} (?:[A-Za-z0-9_]|\.[A-Za-z0-9]|-[A-Za-z])*
    {%- else -%} (?:[A-Za-z0-9_]|[.,:/-][0-9])*
    {%- endif -%}
{%- endmacro %}

{#- Has the candidate `m` (a varchar expression, lead removed) the detector's exact shape (no tail)? -#}
{% macro pii_shape(detector, m) -%}
    {%- if detector == 'ipv6' -%}
        {#- RFC 4291 text forms, with an embedded IPv4 tail; no zone index -#}
        regexp_full_match({{ m }}, '(?i)(?:(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,7}:|(?:[0-9a-f]{1,4}:){1,6}:[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,5}(?::[0-9a-f]{1,4}){1,2}|(?:[0-9a-f]{1,4}:){1,4}(?::[0-9a-f]{1,4}){1,3}|(?:[0-9a-f]{1,4}:){1,3}(?::[0-9a-f]{1,4}){1,4}|(?:[0-9a-f]{1,4}:){1,2}(?::[0-9a-f]{1,4}){1,5}|[0-9a-f]{1,4}:(?::[0-9a-f]{1,4}){1,6}|:(?:(?::[0-9a-f]{1,4}){1,7}|:)|(?:[0-9a-f]{1,4}:){6}(?:[0-9]{1,3}\.){3}[0-9]{1,3}|::(?:ffff(?::0{1,4})?:)?(?:[0-9]{1,3}\.){3}[0-9]{1,3}|(?:[0-9a-f]{1,4}:){1,4}:(?:[0-9]{1,3}\.){3}[0-9]{1,3})')
    {%- else -%}
        regexp_full_match({{ m }}, '{{ pii_core_pattern(detector) }}')
    {%- endif -%}
{%- endmacro %}

{#- Range, checksum and context checks of a candidate `m` of the right shape. -#}
{% macro pii_checks(detector, m) -%}
    {%- if detector == 'email' -%}
        {#- icon@2x.png and friends are file names; RFC 5321 limits the lengths -#}
        not regexp_matches({{ m }}, '(?i)\.(?:png|jpe?g|gif|svg|webp|bmp|ico|tiff?)$')
        and strpos({{ m }}, '@') <= 65
        and length({{ m }}) <= 254
    {%- elif detector == 'iban' -%}
        {{ iban_is_valid(m) }}
    {%- elif detector == 'credit_card' -%}
        {#- issuer prefix by length (ISO/IEC 7812 ranges in use): 13 Visa; 14 Diners;
            15 Amex; 16 Mastercard, Visa, Discover, JCB, UnionPay, Maestro; 17–19 Visa,
            Maestro, Discover, JCB, UnionPay -#}
        case
            when not regexp_full_match(
                translate({{ m }}, ' -', ''),
                '4[0-9]{12}|3[0689][0-9]{12}|3[47][0-9]{13}|[2456][0-9]{15}|35[0-9]{14}|[456][0-9]{16,18}|35[0-9]{15,17}'
            ) then false
            when length(replace(translate({{ m }}, ' -', ''), left({{ m }}, 1), '')) = 0 then false
            else {{ luhn_is_valid("translate(" ~ m ~ ", ' -', '')") }}
        end
    {%- elif detector == 'us_ssn' -%}
        {#- SSA: area 000, 666 and 900–999, group 00 and serial 0000 are never issued -#}
        left({{ m }}, 3) not in ('000', '666')
        and left({{ m }}, 1) != '9'
        and substr({{ m }}, 5, 2) != '00'
        and right({{ m }}, 4) != '0000'
    {%- elif detector == 'ipv6' -%}
        {#- `::` (Haskell types), `abc::def` (C++ scopes) and `1::2` (slices) are left alone:
            a decimal digit and a group of three or more hex digits are required, except for
            the loopback ::1 -#}
        {{ m }} = '::1' or (regexp_matches({{ m }}, '[0-9]') and regexp_matches({{ m }}, '[0-9A-Fa-f]{3}'))
    {%- elif detector == 'ipv4' -%}
        regexp_full_match(
            {{ m }},
            '(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])'
        )
    {%- elif detector == 'phone_international' -%}
        {#- E.164: at most 15 digits after the '+' (a (0) trunk not counted), at least 8 -#}
        case
            when starts_with({{ m }}, '+')
                then length(regexp_replace({{ m }}, '\(0\)|[^0-9]', '', 'g')) between 8 and 15
            else length(regexp_replace({{ m }}, '[^0-9]', '', 'g')) between 10 and 17
        end
    {%- elif detector == 'phone_national' -%}
        {#- NANP: the pattern says it all. Trunk-0 numbers have 10–12 digits, 10–11 written
            without separators (12 bare digits are more often a UPC-A code), one kind of
            separator (`05 15.03.2024` is two things), and dd.mm.yyyy is a date -#}
        case
            when not regexp_matches({{ m }}, '^\(?0') then true
            when regexp_full_match({{ m }}, '0[0-9]+') then length({{ m }}) between 10 and 11
            else length(regexp_replace({{ m }}, '[^0-9]', '', 'g')) between 10 and 12
                and length(list_distinct(string_split(regexp_replace({{ m }}, '[0-9()]', '', 'g'), ''))) <= 1
                and not regexp_matches({{ m }}, '^0[1-9][./-][0-9]{2}[./-][0-9]{4}')
        end
    {%- else -%}
        {{ exceptions.raise_compiler_error("pii: unknown detector '" ~ detector ~ "'") }}
    {%- endif -%}
{%- endmacro %}
