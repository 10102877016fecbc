-- A returned row is a text (compared after normalization, case-insensitively) that sits
-- in more than one split of training_examples: the model would be evaluated on text it
-- was trained on, so test and validation metrics would be inflated.

with

training_examples as (
    select * from {{ ref('training_examples') }}
),

final as (
    select
        md5(lower(text)) as content_hash,
        count(distinct split) as splits,
        count(*) as examples
    from training_examples
    group by md5(lower(text))
    having count(distinct split) > 1
)

select * from final
