-- A returned row is an agreement value that is missing without a null_reason (or present with
-- one), or that lies outside its range: alpha and kappas are at most 1, percent and observed
-- agreement in [0, 1]. Either means a formula in label_agreement / annotator_pair_agreement
-- (macros/agreement.sql) broke, and a dashboard would show a number that means nothing.
select
    'label_agreement' as model,
    task_name,
    metric as what,
    value,
    null_reason
from {{ ref('label_agreement') }}
where
    (value is null) != (null_reason is not null)
    or value > 1 + 1e-9
    or (metric = 'percent_agreement' and value < 0)

union all

select
    'annotator_pair_agreement' as model,
    task_name,
    annotator_key_a || ' / ' || annotator_key_b as what,
    cohen_kappa as value,
    null_reason
from {{ ref('annotator_pair_agreement') }}
where
    (cohen_kappa is null) != (null_reason is not null)
    or cohen_kappa > 1 + 1e-9
    or linear_weighted_kappa > 1 + 1e-9
    or quadratic_weighted_kappa > 1 + 1e-9
    or observed_agreement not between 0 and 1
    or annotator_key_a >= annotator_key_b
