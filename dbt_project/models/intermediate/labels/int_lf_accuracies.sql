-- The label model's estimate of each labeling function's accuracy and its vote weight
-- (docs/labeling/weak-supervision.md). Evidence, first that exists: the documents with a
-- reference label (gold, else human consensus; int_lf_reference_labels) on which the function
-- voted; else the documents where the other functions of its task have a unique plurality label;
-- else none. accuracy = (agreed + s * prior) / (evaluated + s), clipped to [1/k, max], and the
-- weight is the log odds of a one-coin model over k classes: ln(accuracy * (k - 1) / (1 - accuracy)),
-- 0 for a function no better than chance.
{%- set prior = weak_supervision_setting('weak_supervision_prior_accuracy') %}
{%- set strength = weak_supervision_setting('weak_supervision_prior_strength') %}
{%- set max_accuracy = weak_supervision_setting('weak_supervision_max_accuracy') %}

with

int_labeling_functions as (
    select * from {{ ref('int_labeling_functions') }}
),

int_lf_votes as (
    select * from {{ ref('int_lf_votes') }}
),

int_lf_reference_labels as (
    select * from {{ ref('int_lf_reference_labels') }}
),

task_labels as (
    select
        task_name,
        label
    from int_lf_votes
    union
    select
        task_name,
        reference_label as label
    from int_lf_reference_labels
),

task_classes as (
    -- k: the labels a task's functions voted or its references hold, at least 2.
    select
        task_name,
        greatest(count(distinct label), 2) as n_classes
    from task_labels
    group by task_name
),

reference_agreement as (
    select
        votes.task_name,
        votes.lf_name,
        count(*) as evaluated,
        count(*) filter (where votes.label = reference.reference_label) as agreed
    from int_lf_votes as votes
    inner join int_lf_reference_labels as reference
        on
            votes.task_name = reference.task_name
            and votes.document_id = reference.document_id
    group by votes.task_name, votes.lf_name
),

other_label_counts as (
    -- Per vote: how many of the other functions of its task voted each label on that document.
    select
        votes.task_name,
        votes.lf_name,
        votes.document_id,
        votes.label,
        others.label as other_label,
        count(*) as other_votes
    from int_lf_votes as votes
    inner join int_lf_votes as others
        on
            votes.task_name = others.task_name
            and votes.document_id = others.document_id
            and votes.lf_name <> others.lf_name
    group by votes.task_name, votes.lf_name, votes.document_id, votes.label, others.label
),

top_other_labels as (
    select *
    from other_label_counts
    qualify other_votes = max(other_votes) over (partition by task_name, lf_name, document_id)
),

other_majorities as (
    -- The others' plurality label; a tie among them gives none (count of top labels > 1).
    select
        task_name,
        lf_name,
        document_id,
        any_value(label) as label,
        min(other_label) as majority_label,
        count(*) as top_labels
    from top_other_labels
    group by task_name, lf_name, document_id
),

other_agreement as (
    select
        task_name,
        lf_name,
        count(*) as evaluated,
        count(*) filter (where label = majority_label) as agreed
    from other_majorities
    where top_labels = 1
    group by task_name, lf_name
),

evidence as (
    select
        functions.task_name,
        functions.lf_name,
        coalesce(task_classes.n_classes, 2) as n_classes,
        case
            when reference_agreement.evaluated > 0 then 'reference'
            when other_agreement.evaluated > 0 then 'other_functions'
            else 'prior'
        end as accuracy_source,
        case
            when reference_agreement.evaluated > 0 then reference_agreement.evaluated
            else coalesce(other_agreement.evaluated, 0)
        end as evaluated,
        case
            when reference_agreement.evaluated > 0 then reference_agreement.agreed
            else coalesce(other_agreement.agreed, 0)
        end as agreed
    from int_labeling_functions as functions
    left join task_classes
        on functions.task_name = task_classes.task_name
    left join reference_agreement
        on
            functions.task_name = reference_agreement.task_name
            and functions.lf_name = reference_agreement.lf_name
    left join other_agreement
        on
            functions.task_name = other_agreement.task_name
            and functions.lf_name = other_agreement.lf_name
),

smoothed as (
    -- In double arithmetic throughout (a bare 0.7 would be a DECIMAL in DuckDB).
    select
        *,
        case
            when evaluated + {{ strength }}::double > 0
                then
                    (agreed::double + {{ strength }}::double * {{ prior }}::double)
                    / (evaluated::double + {{ strength }}::double)
            else {{ prior }}::double
        end as smoothed_accuracy
    from evidence
),

clipped as (
    select
        *,
        least(
            greatest(smoothed_accuracy, 1.0::double / n_classes), {{ max_accuracy }}::double
        ) as estimated_accuracy
    from smoothed
),

final as (
    select
        task_name,
        lf_name,
        n_classes::bigint as n_classes,
        accuracy_source,
        evaluated::bigint as n_evaluated,
        agreed::bigint as n_agreed,
        estimated_accuracy,
        -- greatest(…, 0): at accuracy 1/k the log is 0 up to rounding, never a negative weight.
        greatest(ln(estimated_accuracy * (n_classes - 1) / (1 - estimated_accuracy)), 0.0)::double as weight
    from clipped
)

select * from final
