with

source as (
    select * from {{ source('shop', 'products') }}
),

renamed as (
    select
        (_airbyte_data ->> 'id')::bigint as product_id,
        _airbyte_data ->> 'make' as make,
        _airbyte_data ->> 'model' as model,
        (_airbyte_data ->> 'year')::integer as model_year,
        (_airbyte_data ->> 'price')::decimal(18, 2) as price,
        {{ to_utc_timestamp("_airbyte_data ->> 'created_at'") }} as created_at,
        {{ to_utc_timestamp("_airbyte_data ->> 'updated_at'") }} as updated_at,
        _airbyte_extracted_at as extracted_at,
        _airbyte_raw_id as airbyte_raw_id
    from source
),

latest as (
    select *
    from renamed
    qualify row_number() over (
        partition by product_id
        order by updated_at desc nulls last, extracted_at desc, airbyte_raw_id desc
    ) = 1
),

final as (
    select * exclude (airbyte_raw_id)
    from latest
)

select * from final
