{#-
    Formulas shared by the agreement marts (label_agreement, annotator_pair_agreement).
    Each macro renders one SQL expression; docs/labeling/agreement.md explains the metrics.
-#}

{#- Share of agreeing ordered pairs among an item's ratings (Fleiss 1971, P_i):
    (Σ_c n_c² − m) / (m · (m − 1)), where n_c counts the ratings with label c and m is
    their total. NULL for an item with fewer than two ratings (no pair). -#}
{% macro pairwise_agreement(sum_squared_label_votes, ratings) -%}
    case
        when {{ ratings }} >= 2
            then ({{ sum_squared_label_votes }} - {{ ratings }})::double
            / ({{ ratings }} * ({{ ratings }} - 1))::double
    end
{%- endmacro %}

{#- Chance-corrected agreement (Cohen 1960, Fleiss 1971): (P_o − P_e) / (1 − P_e).
    NULL when chance agreement is 1 (every rating has the same value: nothing to correct). -#}
{% macro chance_corrected_agreement(observed, expected) -%}
    case
        when {{ expected }} < 1
            then ({{ observed }} - {{ expected }}) / (1 - {{ expected }})
    end
{%- endmacro %}

{#- Krippendorff's squared difference δ²(c, k) between two values of one task (Krippendorff
    2011, "Computing Krippendorff's Alpha-Reliability", section C):
      nominal   0 if c = k else 1
      ordinal   (Σ_{g=c..k} n_g − (n_c + n_k) / 2)², n_g the pairable values of rank g; this is
                the squared difference of the values' mid-ranks M_g = Σ_{h<=g} n_h − n_g / 2
      interval  (c − k)²
      ratio     ((c − k) / (c + k))²  (values >= 0; c = k = 0 gives 0)
    key_* identify values (the label, or the number as text); value_* are the numbers
    (label_value: the rank for ordinal); midrank_* the mid-ranks M. -#}
{% macro krippendorff_delta_squared(level, key_c, key_k, value_c, value_k, midrank_c, midrank_k) -%}
    case
        when {{ key_c }} = {{ key_k }} then 0.0
        when {{ level }} = 'nominal' then 1.0
        when {{ level }} = 'ordinal' then power({{ midrank_c }} - {{ midrank_k }}, 2)
        when {{ level }} = 'interval' then power({{ value_c }} - {{ value_k }}, 2)
        when {{ level }} = 'ratio' then power(({{ value_c }} - {{ value_k }}) / ({{ value_c }} + {{ value_k }}), 2)
    end
{%- endmacro %}
