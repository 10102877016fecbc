{%- if var('training_label_method') not in ['majority_vote', 'dawid_skene'] -%}
    {{ exceptions.raise_compiler_error(
        "var training_label_method is '" ~ var('training_label_method') ~ "': use majority_vote or "
        ~ "dawid_skene (dbt_project/dbt_project.yml, or --vars '{training_label_method: dawid_skene}')"
    ) }}
{%- endif -%}

with

int_documents_deduplicated as (
    select * from {{ ref('int_documents_deduplicated') }}
),

int_documents_split as (
    select * from {{ ref('int_documents_split') }}
),

int_documents_pii as (
    select * from {{ ref('int_documents_pii') }}
),

item_labels as (
    select * from {{ ref('item_labels') }}
),

int_weak_labels as (
    select * from {{ ref('int_weak_labels') }}
),

kept_documents as (
    select
        document_id,
        source_name,
        source_key,
        normalized_text,
        content_hash
    from int_documents_deduplicated
    where is_kept
),

training_labels as (
    -- The consensus of the control var training_label_task by the method var training_label_method.
    select
        item_hash,
        method,
        label,
        confidence,
        is_tie
    from item_labels
    where
        task_name = {{ sql_string_literal(var('training_label_task')) }}
        and method = {{ sql_string_literal(var('training_label_method')) }}
        and item_hash is not null
),

weak_labels as (
    -- The label model's labels (docs/labeling/weak-supervision.md), confident enough to train on.
    select
        document_id,
        label,
        confidence
    from int_weak_labels
    where
        task_name = {{ sql_string_literal(var('training_label_task')) }}
        and label is not null
        and confidence >= {{ weak_supervision_setting('weak_label_min_confidence') }}
),

final as (
    select
        kept_documents.document_id as example_id,
        kept_documents.document_id,
        kept_documents.source_name,
        kept_documents.source_key,
        -- The text with PII redacted (int_documents_pii; var pii_redact_types, pii_redaction_tokens).
        int_documents_pii.redacted_text as text,
        -- Precedence: the human label, else (only where humans did not vote) the weak label.
        coalesce(training_labels.label, weak_labels.label) as label,
        case
            when training_labels.label is not null then training_labels.method
            when weak_labels.label is not null then 'weak_supervision'
        end as label_source,
        case
            when training_labels.label is not null then training_labels.confidence
            else weak_labels.confidence
        end as label_confidence,
        case
            when coalesce(training_labels.label, weak_labels.label) is not null then 'labeled'
            when training_labels.is_tie then 'tie'
            else 'unlabeled'
        end as label_status,
        int_documents_split.split
    from kept_documents
    inner join int_documents_split
        on kept_documents.document_id = int_documents_split.document_id
    left join int_documents_pii
        on kept_documents.document_id = int_documents_pii.document_id
    left join training_labels
        on kept_documents.content_hash = training_labels.item_hash
    -- Never over a human vote: a tie stays a tie (it needs adjudication, not a rule's guess).
    left join weak_labels
        on
            kept_documents.document_id = weak_labels.document_id
            and training_labels.item_hash is null
)

-- Ordered so the table, and any file exported from it, is byte-for-byte reproducible.
select * from final
order by example_id
