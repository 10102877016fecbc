-- Agreement per task over every counted vote (int_label_votes_counted: submitted, one per
-- annotator and item), whether or not the item matches a document. Three metrics, one row
-- each; docs/labeling/agreement.md explains them. Notation: item u, value (label) c, n_uc the
-- ratings of u with value c, m_u = Σ_c n_uc the ratings of u.
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

-- ---------------------------------------------------------------- nominal counts per item

label_counts as (
    -- n_uc
    select
        task_name,
        item_key,
        label,
        count(*) as label_votes
    from int_label_votes_counted
    group by task_name, item_key, label
),

item_ratings as (
    -- m_u and Σ_c n_uc², for items with at least two ratings (the others have no pair).
    select
        task_name,
        item_key,
        sum(label_votes) as ratings,
        sum(label_votes * label_votes) as sum_squared_label_votes
    from label_counts
    group by task_name, item_key
    having sum(label_votes) >= 2
),

fleiss_design as (
    -- Fleiss' kappa assumes the same number of ratings n on every item: it uses the items
    -- with the most common n (on a tie, the larger n).
    select
        task_name,
        ratings as fleiss_ratings
    from item_ratings
    group by task_name, ratings
    qualify row_number() over (partition by task_name order by count(*) desc, ratings desc) = 1
),

pairable_items as (
    select
        item_ratings.task_name,
        item_ratings.item_key,
        item_ratings.ratings,
        {{ pairwise_agreement('item_ratings.sum_squared_label_votes', 'item_ratings.ratings') }}
            as pairwise_agreement,
        item_ratings.ratings = fleiss_design.fleiss_ratings as is_fleiss_item
    from item_ratings
    inner join fleiss_design
        on item_ratings.task_name = fleiss_design.task_name
),

pairable_annotators as (
    select
        votes.task_name,
        count(distinct votes.annotator_key) as annotators,
        count(distinct case when pairable_items.is_fleiss_item then votes.annotator_key end)
            as fleiss_annotators
    from int_label_votes_counted as votes
    inner join pairable_items
        on
            votes.task_name = pairable_items.task_name
            and votes.item_key = pairable_items.item_key
    group by votes.task_name
),

-- ---------------------------------------------------------------- percent agreement

percent_agreement as (
    -- P̄ = mean over items with m_u >= 2 of the share of agreeing rating pairs (Fleiss' P̄,
    -- with any number of ratings per item; each item weighs the same).
    select
        task_name,
        avg(pairwise_agreement) as agreement,
        count(*) as items,
        sum(ratings) as ratings
    from pairable_items
    group by task_name
),

-- ---------------------------------------------------------------- Fleiss' kappa

fleiss_observed as (
    -- P̄ over the Fleiss items
    select
        task_name,
        avg(pairwise_agreement) as observed_agreement,
        count(*) as items,
        sum(ratings) as ratings
    from pairable_items
    where is_fleiss_item
    group by task_name
),

fleiss_label_shares as (
    -- p_j = Σ_u n_uj / (N · n): the share of the Fleiss items' ratings that have label j
    select
        label_counts.task_name,
        label_counts.label,
        sum(label_counts.label_votes)::double / any_value(fleiss_observed.ratings)::double as label_share
    from label_counts
    inner join pairable_items
        on
            label_counts.task_name = pairable_items.task_name
            and label_counts.item_key = pairable_items.item_key
    inner join fleiss_observed
        on label_counts.task_name = fleiss_observed.task_name
    where pairable_items.is_fleiss_item
    group by label_counts.task_name, label_counts.label
),

fleiss_expected as (
    -- P̄e = Σ_j p_j²
    select
        task_name,
        sum(label_share * label_share) as expected_agreement
    from fleiss_label_shares
    group by task_name
),

-- ---------------------------------------------------------------- Krippendorff's alpha

alpha_votes as (
    -- The value of each vote at its task's level: the label (nominal) or label_value (ordinal:
    -- rank in `order`; interval, ratio: the number). A vote with no value at its level (a label
    -- outside `order`, or not a number) is left out; so are tasks whose sources disagree on the level.
    select
        votes.task_name,
        votes.item_key,
        votes.annotator_key,
        case when tasks.level = 'nominal' then votes.label else votes.label_value::varchar end as value_key,
        votes.label_value as value_number,
        count(*) over (partition by votes.task_name, votes.item_key) as item_values
    from int_label_votes_counted as votes
    inner join tasks
        on votes.task_name = tasks.task_name
    where tasks.level = 'nominal' or (tasks.level is not null and votes.label_value is not null)
),

alpha_item_values as (
    -- n_uc over pairable items (m_u >= 2); an item with one value has no pair and is dropped.
    select
        task_name,
        item_key,
        value_key,
        any_value(value_number) as value_number,
        any_value(item_values) as item_values,
        count(*) as value_votes
    from alpha_votes
    where item_values >= 2
    group by task_name, item_key, value_key
),

alpha_coincidences as (
    -- The coincidence matrix off its diagonal: o_ck = Σ_u n_uc · n_uk / (m_u − 1), c ≠ k.
    -- The diagonal is never needed: δ²(c, c) = 0 at every level.
    select
        value_c.task_name,
        value_c.value_key as key_c,
        value_k.value_key as key_k,
        sum(
            (value_c.value_votes * value_k.value_votes)::double / (value_c.item_values - 1)::double
        ) as coincidences
    from alpha_item_values as value_c
    inner join alpha_item_values as value_k
        on
            value_c.task_name = value_k.task_name
            and value_c.item_key = value_k.item_key
            and value_c.value_key != value_k.value_key
    group by value_c.task_name, value_c.value_key, value_k.value_key
),

alpha_value_totals as (
    -- n_c = Σ_u n_uc (= Σ_k o_ck): pairable values per task
    select
        task_name,
        value_key,
        any_value(value_number) as value_number,
        sum(value_votes) as value_total
    from alpha_item_values
    group by task_name, value_key
),

alpha_values as (
    -- Mid-rank of each value in label_value order, for the ordinal metric:
    -- M_c = Σ_{g <= c} n_g − n_c / 2.
    select
        task_name,
        value_key,
        value_number,
        value_total,
        sum(value_total) over (
            partition by task_name order by value_number, value_key
            rows between unbounded preceding and current row
        ) - value_total / 2.0 as midrank
    from alpha_value_totals
),

alpha_value_pairs as (
    -- Every ordered pair of distinct values of a task with its δ²(c, k) (macros/agreement.sql).
    select
        value_c.task_name,
        value_c.value_key as key_c,
        value_k.value_key as key_k,
        value_c.value_total as total_c,
        value_k.value_total as total_k,
        {{ krippendorff_delta_squared(
            'tasks.level', 'value_c.value_key', 'value_k.value_key',
            'value_c.value_number', 'value_k.value_number', 'value_c.midrank', 'value_k.midrank'
        ) }} as delta_squared
    from alpha_values as value_c
    inner join alpha_values as value_k
        on
            value_c.task_name = value_k.task_name
            and value_c.value_key != value_k.value_key
    inner join tasks
        on value_c.task_name = tasks.task_name
),

alpha_sums as (
    -- Σ_ck o_ck δ²_ck (observed) and Σ_ck n_c n_k δ²_ck (expected)
    select
        alpha_value_pairs.task_name,
        sum(coalesce(alpha_coincidences.coincidences, 0) * alpha_value_pairs.delta_squared) as observed_sum,
        sum(alpha_value_pairs.total_c * alpha_value_pairs.total_k * alpha_value_pairs.delta_squared)
            as expected_sum
    from alpha_value_pairs
    left join alpha_coincidences
        on
            alpha_value_pairs.task_name = alpha_coincidences.task_name
            and alpha_value_pairs.key_c = alpha_coincidences.key_c
            and alpha_value_pairs.key_k = alpha_coincidences.key_k
    group by alpha_value_pairs.task_name
),

alpha_scope as (
    select
        task_name,
        count(distinct item_key) as items,
        count(distinct annotator_key) as annotators,
        count(*) as ratings,
        min(value_number) as min_value
    from alpha_votes
    where item_values >= 2
    group by task_name
),

alpha_results as (
    select
        tasks.task_name,
        tasks.level,
        alpha_scope.items,
        alpha_scope.annotators,
        alpha_scope.ratings,
        alpha_sums.observed_sum,
        alpha_sums.expected_sum,
        case
            when tasks.level is null then 'mixed_levels'
            when alpha_scope.task_name is null then 'no_item_with_two_ratings'
            when tasks.level = 'ratio' and alpha_scope.min_value < 0 then 'negative_value_at_ratio_level'
            when coalesce(alpha_sums.expected_sum, 0) = 0 then 'one_value_in_domain'
        end as null_reason
    from tasks
    left join alpha_scope
        on tasks.task_name = alpha_scope.task_name
    left join alpha_sums
        on tasks.task_name = alpha_sums.task_name
),

-- ---------------------------------------------------------------- one row per task and metric

metric_rows as (
    select
        task_name,
        'krippendorff_alpha' as metric,
        -- α = 1 − D_o / D_e = 1 − (n − 1) · Σ o_ck δ²_ck / Σ n_c n_k δ²_ck, n = Σ_c n_c
        case
            when null_reason is null then 1 - (ratings - 1) * observed_sum / expected_sum
        end as value,
        level,
        items,
        annotators,
        ratings,
        null_reason
    from alpha_results

    union all

    select
        tasks.task_name,
        'fleiss_kappa' as metric,
        -- κ = (P̄ − P̄e) / (1 − P̄e)
        {{ chance_corrected_agreement(
            'fleiss_observed.observed_agreement', 'fleiss_expected.expected_agreement'
        ) }} as value,
        'nominal' as level,
        fleiss_observed.items,
        pairable_annotators.fleiss_annotators as annotators,
        fleiss_observed.ratings,
        case
            when fleiss_observed.task_name is null then 'no_item_with_two_ratings'
            when fleiss_expected.expected_agreement >= 1 then 'one_value_in_domain'
        end as null_reason
    from tasks
    left join fleiss_observed
        on tasks.task_name = fleiss_observed.task_name
    left join fleiss_expected
        on tasks.task_name = fleiss_expected.task_name
    left join pairable_annotators
        on tasks.task_name = pairable_annotators.task_name

    union all

    select
        tasks.task_name,
        'percent_agreement' as metric,
        percent_agreement.agreement as value,
        'nominal' as level,
        percent_agreement.items,
        pairable_annotators.annotators,
        percent_agreement.ratings,
        case when percent_agreement.task_name is null then 'no_item_with_two_ratings' end as null_reason
    from tasks
    left join percent_agreement
        on tasks.task_name = percent_agreement.task_name
    left join pairable_annotators
        on tasks.task_name = pairable_annotators.task_name
),

final as (
    select
        task_name::varchar as task_name,
        metric::varchar as metric,
        value::double as value,
        level::varchar as level,
        coalesce(items, 0)::bigint as items,
        coalesce(annotators, 0)::bigint as annotators,
        coalesce(ratings, 0)::bigint as ratings,
        null_reason::varchar as null_reason
    from metric_rows
)

select * from final
