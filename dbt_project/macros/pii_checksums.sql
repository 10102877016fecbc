{#- Checksums and registry data of the PII detectors: Luhn, ISO 13616 IBAN. -#}

{#-
    IBAN length per country: SWIFT IBAN Registry (ISO 13616), release 2024, incl. the
    countries added in 2021–2024 (BI, DJ, FK, LY, MN, NI, OM, RU, SD, SO, YE).
-#}
{% macro iban_country_lengths() -%}
    {{ return({
        'AD': 24, 'AE': 23, 'AL': 28, 'AT': 20, 'AZ': 28, 'BA': 20, 'BE': 16, 'BG': 22,
        'BH': 22, 'BI': 27, 'BR': 29, 'BY': 28, 'CH': 21, 'CR': 22, 'CY': 28, 'CZ': 24,
        'DE': 22, 'DJ': 27, 'DK': 18, 'DO': 28, 'EE': 20, 'EG': 29, 'ES': 24, 'FI': 18,
        'FK': 18, 'FO': 18, 'FR': 27, 'GB': 22, 'GE': 22, 'GI': 23, 'GL': 18, 'GR': 27,
        'GT': 28, 'HR': 21, 'HU': 28, 'IE': 22, 'IL': 23, 'IQ': 23, 'IS': 26, 'IT': 27,
        'JO': 30, 'KW': 30, 'KZ': 20, 'LB': 28, 'LC': 32, 'LI': 21, 'LT': 20, 'LU': 20,
        'LV': 21, 'LY': 25, 'MC': 27, 'MD': 24, 'ME': 22, 'MK': 19, 'MN': 20, 'MR': 27,
        'MT': 31, 'MU': 30, 'NI': 28, 'NL': 18, 'NO': 15, 'OM': 23, 'PK': 24, 'PL': 28,
        'PS': 29, 'PT': 25, 'QA': 29, 'RO': 24, 'RS': 22, 'RU': 33, 'SA': 24, 'SC': 31,
        'SD': 18, 'SE': 24, 'SI': 19, 'SK': 24, 'SM': 27, 'SO': 23, 'ST': 25, 'SV': 28,
        'TL': 23, 'TN': 24, 'TR': 26, 'UA': 29, 'VA': 22, 'VG': 24, 'XK': 20, 'YE': 30,
    }) }}
{%- endmacro %}

{#-
    The IBAN core pattern: per registry length L, `(?:DE|GB|…)[0-9]{2}` followed by exactly
    L - 4 alphanumerics, each optionally preceded by one space when `spaced` (the printed
    form `DE89 3704 0044 0532 0130 00`).
-#}
{% macro iban_pattern(spaced=true) -%}
    {%- set by_length = {} -%}
    {%- for country, length in iban_country_lengths().items() -%}
        {%- do by_length.setdefault(length, []).append(country) -%}
    {%- endfor -%}
    {%- for length in by_length | sort -%}
        (?:{{ by_length[length] | sort | join('|') }})[0-9]{2}(?:{{ ' ?' if spaced }}[A-Z0-9]){ {{- length - 4 -}} }
        {{- '|' if not loop.last -}}
    {%- endfor -%}
{%- endmacro %}

{#-
    Luhn (ISO/IEC 7812-1) check of a varchar of digits: from the right, every second digit
    is doubled (its digit sum looked up in '0246813579'), and the sum must end in 0.
    False for an empty string or one with anything but digits.
-#}
{% macro luhn_is_valid(digits) -%}
    coalesce(list_extract(list_transform(
        [{{ digits }}],
        lambda luhn_d: regexp_full_match(luhn_d, '[0-9]+')
        and list_sum(list_transform(
            range(length(luhn_d)),
            lambda luhn_i: case
                when luhn_i % 2 = 0 then try_cast(substr(luhn_d, length(luhn_d) - luhn_i, 1) as integer)
                else try_cast(substr(
                    '0246813579', try_cast(substr(luhn_d, length(luhn_d) - luhn_i, 1) as integer) + 1, 1
                ) as integer)
            end
        )) % 10 = 0
    ), 1), false)
{%- endmacro %}

{#-
    ISO 13616 IBAN check of a varchar (spaces allowed): the country's registry length, then
    ISO 7064 mod 97-10 — move the first four characters to the end, letters to 10–35, and
    the number must leave remainder 1 modulo 97. The number has up to 68 digits, so it is
    cut into 9-digit chunks from the right: remainder = Σ (chunk_j mod 97) · (10^(9j) mod 97)
    mod 97, every term below 97², never near an overflow.
-#}
{% macro iban_is_valid(iban) -%}
    {%- set chunk_weights = [] -%}
    {%- for j in range(8) -%}
        {%- do chunk_weights.append((10 ** (9 * j)) % 97) -%}
    {%- endfor -%}
    coalesce(list_extract(list_transform(
        [upper(replace({{ iban }}, ' ', ''))],
        lambda iban_c: regexp_full_match(iban_c, '{{ iban_pattern(spaced=false) }}')
        and list_extract(list_transform(
            [array_to_string(list_transform(
                string_split(substr(iban_c, 5) || left(iban_c, 4), ''),
                lambda iban_ch: case
                    when iban_ch between 'A' and 'Z' then cast(ascii(iban_ch) - 55 as varchar)
                    else iban_ch
                end
            ), '')],
            lambda iban_n: list_sum(list_transform(
                range(cast(ceil(length(iban_n) / 9) as bigint)),
                lambda iban_j: (try_cast(substr(
                    iban_n,
                    greatest(length(iban_n) - 9 * iban_j - 8, 1),
                    length(iban_n) - 9 * iban_j - greatest(length(iban_n) - 9 * iban_j - 8, 1) + 1
                ) as bigint) % 97) * list_extract({{ chunk_weights }}, iban_j + 1)
            )) % 97 = 1
        ), 1)
    ), 1), false)
{%- endmacro %}
