-- Cohen's kappa for every pair of annotators who rated at least one item of a task in common
-- (counted votes: int_label_votes_counted), over the items both rated. Weighted kappas
-- (linear, quadratic; as scikit-learn's cohen_kappa_score with labels = the declared order)
-- for ordinal tasks. docs/labeling/agreement.md explains the columns.
with

int_label_votes_counted as (
    select * from {{ ref('int_label_votes_counted') }}
),

tasks as (
    -- The task's level: the one all the sources of its votes declare; NULL when they differ.
    select
        task_name,
        case when count(distinct level) = 1 then min(level) end as level
    from int_label_votes_counted
    group by task_name
),

pair_votes as (
    -- One row per item both annotators rated; annotator a sorts before annotator b.
    select
        votes_a.task_name,
        votes_a.annotator_key as annotator_key_a,
        votes_b.annotator_key as annotator_key_b,
        votes_a.label as label_a,
        votes_b.label as label_b,
        votes_a.label_value as value_a,
        votes_b.label_value as value_b
    from int_label_votes_counted as votes_a
    inner join int_label_votes_counted as votes_b
        on
            votes_a.task_name = votes_b.task_name
            and votes_a.item_key = votes_b.item_key
            and votes_a.annotator_key < votes_b.annotator_key
),

pair_observed as (
    -- N (overlap), P_o = share of items with the same label, and the mean observed linear and
    -- quadratic disagreements Σ w_ck o_ck / N with w = |c − k| and (c − k)² on label_value.
    select
        task_name,
        annotator_key_a,
        annotator_key_b,
        count(*) as items_both_rated,
        (count(*) * count(*))::double as squared_items,
        avg(case when label_a = label_b then 1.0 else 0.0 end) as observed_agreement,
        count(value_a) = count(*) and count(value_b) = count(*) as has_all_values,
        avg(abs(value_a - value_b)) as observed_linear_disagreement,
        avg(power(value_a - value_b, 2)) as observed_quadratic_disagreement
    from pair_votes
    group by task_name, annotator_key_a, annotator_key_b
),

marginals_a as (
    -- n_a(c): items of the overlap that annotator a labeled c
    select
        task_name,
        annotator_key_a,
        annotator_key_b,
        label_a as label,
        any_value(value_a) as label_value,
        count(*) as label_votes
    from pair_votes
    group by task_name, annotator_key_a, annotator_key_b, label_a
),

marginals_b as (
    select
        task_name,
        annotator_key_a,
        annotator_key_b,
        label_b as label,
        any_value(value_b) as label_value,
        count(*) as label_votes
    from pair_votes
    group by task_name, annotator_key_a, annotator_key_b, label_b
),

marginal_pairs as (
    -- Every (c, k) of a's and b's labels on the overlap, with n_a(c) · n_b(k).
    select
        marginals_a.task_name,
        marginals_a.annotator_key_a,
        marginals_a.annotator_key_b,
        marginals_a.label = marginals_b.label as is_same_label,
        marginals_a.label_value - marginals_b.label_value as value_difference,
        marginals_a.label_votes * marginals_b.label_votes as joint_votes
    from marginals_a
    inner join marginals_b
        on
            marginals_a.task_name = marginals_b.task_name
            and marginals_a.annotator_key_a = marginals_b.annotator_key_a
            and marginals_a.annotator_key_b = marginals_b.annotator_key_b
),

pair_expected as (
    -- Chance terms from the two annotators' own label distributions on the overlap, times N²:
    -- P_e · N² = Σ_c n_a(c) · n_b(c), and Σ_ck n_a(c) · n_b(k) · w_ck for the weighted kappas.
    select
        task_name,
        annotator_key_a,
        annotator_key_b,
        sum(case when is_same_label then joint_votes else 0 end) as expected_agreement_votes,
        sum(joint_votes * abs(value_difference)) as expected_linear_votes,
        sum(joint_votes * power(value_difference, 2)) as expected_quadratic_votes
    from marginal_pairs
    group by task_name, annotator_key_a, annotator_key_b
),

pair_terms as (
    select
        pair_observed.task_name,
        pair_observed.annotator_key_a,
        pair_observed.annotator_key_b,
        tasks.level,
        pair_observed.items_both_rated,
        pair_observed.observed_agreement,
        -- Weighted kappas only where every vote of the overlap has its rank in the declared order.
        tasks.level = 'ordinal' and pair_observed.has_all_values as is_weighted,
        pair_observed.observed_linear_disagreement,
        pair_observed.observed_quadratic_disagreement,
        pair_expected.expected_agreement_votes::double / pair_observed.squared_items as expected_agreement,
        pair_expected.expected_linear_votes::double / pair_observed.squared_items
            as expected_linear_disagreement,
        pair_expected.expected_quadratic_votes::double / pair_observed.squared_items
            as expected_quadratic_disagreement
    from pair_observed
    inner join pair_expected
        on
            pair_observed.task_name = pair_expected.task_name
            and pair_observed.annotator_key_a = pair_expected.annotator_key_a
            and pair_observed.annotator_key_b = pair_expected.annotator_key_b
    inner join tasks
        on pair_observed.task_name = tasks.task_name
),

pair_results as (
    select
        *,
        case
            when items_both_rated < 2 then 'overlap_below_two'
            when expected_agreement >= 1 then 'one_value_in_domain'
        end as null_reason
    from pair_terms
),

final as (
    select
        task_name::varchar as task_name,
        annotator_key_a::varchar as annotator_key_a,
        annotator_key_b::varchar as annotator_key_b,
        level::varchar as level,
        items_both_rated::bigint as items_both_rated,
        observed_agreement::double as observed_agreement,
        expected_agreement::double as expected_agreement,
        -- κ = (P_o − P_e) / (1 − P_e)
        (case
            when null_reason is null
                then {{ chance_corrected_agreement('observed_agreement', 'expected_agreement') }}
        end)::double as cohen_kappa,
        -- κ_w = 1 − Σ w_ck o_ck / Σ w_ck e_ck, w_ck = |c − k| (linear) or (c − k)² (quadratic)
        (case
            when null_reason is null and is_weighted
                then 1 - observed_linear_disagreement / expected_linear_disagreement
        end)::double as linear_weighted_kappa,
        (case
            when null_reason is null and is_weighted
                then 1 - observed_quadratic_disagreement / expected_quadratic_disagreement
        end)::double as quadratic_weighted_kappa,
        null_reason::varchar as null_reason
    from pair_results
)

select * from final
