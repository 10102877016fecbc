with

stg_refinery__documents as (
    select * from {{ ref('stg_refinery__documents') }}
),

bucketed as (
    select
        document_id,
        source_name,
        group_key,
        {{ hash_bucket('group_key', var('split_salt')) }} as split_bucket
    from stg_refinery__documents
),

final as (
    select
        document_id,
        source_name,
        group_key,
        split_bucket,
        {{ assign_split('split_bucket') }} as split
    from bucketed
)

select * from final
