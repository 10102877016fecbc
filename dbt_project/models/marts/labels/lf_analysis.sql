-- Snorkel's LFAnalysis per labeling function (snorkel.labeling.LFAnalysis.lf_summary, 0.10.0),
-- docs/labeling/weak-supervision.md. The data points (rows of Snorkel's label matrix L) are the
-- kept documents of the sources the task covers (var weak_supervision_sources); each function of
-- a task is a column. Over all n data points:
--   coverage  = share labeled by the function (non-abstain),
--   overlap   = share labeled by the function and at least one other function of its task,
--   conflict  = share labeled by the function and by another function with a different label.
-- On the data points with a reference label (gold, else human consensus): correct / incorrect
-- count the function's votes equal / unequal to it, empirical_accuracy = correct / (correct +
-- incorrect). Snorkel reports 0 for a function that never fires there; here it is NULL.
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

int_lf_accuracies as (
    select * from {{ ref('int_lf_accuracies') }}
),

int_documents_deduplicated as (
    select * from {{ ref('int_documents_deduplicated') }}
),

tasks as (
    select distinct task_name
    from int_labeling_functions
),

data_points as (
    select
        tasks.task_name,
        count(documents.document_id) as n_documents
    from tasks
    left join int_documents_deduplicated as documents
        on
            documents.is_kept
            and {{ weak_supervision_scope('tasks.task_name', 'documents.source_name') }}
    group by tasks.task_name
),

document_votes as (
    select
        task_name,
        document_id,
        count(*) as n_functions,
        count(distinct label) as n_labels
    from int_lf_votes
    group by task_name, document_id
),

task_references as (
    select
        task_name,
        count(*) as n_with_reference
    from int_lf_reference_labels
    group by task_name
),

function_votes as (
    select
        votes.task_name,
        votes.lf_name,
        list_sort(list(distinct votes.label)) as polarity,
        count(*) as n_labeled,
        count(*) filter (where document_votes.n_functions > 1) as n_overlapping,
        count(*) filter (where document_votes.n_labels > 1) as n_conflicting,
        count(*) filter (where reference.reference_label = votes.label) as n_correct,
        count(*) filter (where reference.reference_label <> votes.label) as n_incorrect
    from int_lf_votes as votes
    inner join document_votes
        on
            votes.task_name = document_votes.task_name
            and votes.document_id = document_votes.document_id
    left join int_lf_reference_labels as reference
        on
            votes.task_name = reference.task_name
            and votes.document_id = reference.document_id
    group by votes.task_name, votes.lf_name
),

final as (
    select
        functions.task_name::varchar as task_name,
        functions.lf_name::varchar as lf_name,
        coalesce(function_votes.polarity, []::varchar[])::varchar[] as polarity,
        data_points.n_documents::bigint as n_documents,
        coalesce(function_votes.n_labeled, 0)::bigint as n_labeled,
        (coalesce(function_votes.n_labeled, 0) / nullif(data_points.n_documents, 0))::double as coverage,
        (coalesce(function_votes.n_overlapping, 0) / nullif(data_points.n_documents, 0))::double as overlap,
        (coalesce(function_votes.n_conflicting, 0) / nullif(data_points.n_documents, 0))::double as conflict,
        coalesce(task_references.n_with_reference, 0)::bigint as n_with_reference,
        -- Without any reference in the task there is nothing to be correct against: NULL, not 0.
        case
            when task_references.n_with_reference > 0 then coalesce(function_votes.n_correct, 0)
        end::bigint as correct,
        case
            when task_references.n_with_reference > 0 then coalesce(function_votes.n_incorrect, 0)
        end::bigint as incorrect,
        (function_votes.n_correct / nullif(function_votes.n_correct + function_votes.n_incorrect, 0))::double
            as empirical_accuracy,
        accuracies.accuracy_source::varchar as accuracy_source,
        accuracies.estimated_accuracy::double as estimated_accuracy,
        accuracies.weight::double as weight
    from int_labeling_functions as functions
    inner join data_points
        on functions.task_name = data_points.task_name
    left join function_votes
        on
            functions.task_name = function_votes.task_name
            and functions.lf_name = function_votes.lf_name
    left join task_references
        on functions.task_name = task_references.task_name
    left join int_lf_accuracies as accuracies
        on
            functions.task_name = accuracies.task_name
            and functions.lf_name = accuracies.lf_name
)

select * from final
order by task_name, lf_name
