with

source as (
    select * from {{ source('shop', 'purchases') }}
),

renamed as (
    select
        (_airbyte_data ->> 'id')::bigint as purchase_id,
        (_airbyte_data ->> 'user_id')::bigint as user_id,
        (_airbyte_data ->> 'product_id')::bigint as product_id,
        {{ to_utc_timestamp("_airbyte_data ->> 'added_to_cart_at'") }} as added_to_cart_at,
        {{ to_utc_timestamp("_airbyte_data ->> 'purchased_at'") }} as purchased_at,
        {{ to_utc_timestamp("_airbyte_data ->> 'returned_at'") }} as returned_at,
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
        partition by purchase_id
        order by updated_at desc nulls last, extracted_at desc, airbyte_raw_id desc
    ) = 1
),

final as (
    select * exclude (airbyte_raw_id)
    from latest
)

select * from final
