with

source as (
    select * from {{ source('shop', 'users') }}
),

renamed as (
    select
        (_airbyte_data ->> 'id')::bigint as user_id,
        _airbyte_data ->> 'name' as user_name,
        _airbyte_data ->> 'title' as title,
        (_airbyte_data ->> 'age')::integer as age,
        _airbyte_data ->> 'email' as email,
        _airbyte_data ->> 'telephone' as telephone,
        _airbyte_data ->> 'gender' as gender,
        _airbyte_data ->> 'language' as language_name,
        _airbyte_data ->> 'academic_degree' as academic_degree,
        _airbyte_data ->> 'nationality' as nationality,
        _airbyte_data ->> 'occupation' as occupation,
        (_airbyte_data ->> 'height')::double as height_m,
        _airbyte_data ->> 'blood_type' as blood_type,
        (_airbyte_data ->> 'weight')::integer as weight_kg,
        _airbyte_data ->> '$.address.street_number' as address_street_number,
        _airbyte_data ->> '$.address.street_name' as address_street_name,
        _airbyte_data ->> '$.address.city' as address_city,
        _airbyte_data ->> '$.address.state' as address_state,
        _airbyte_data ->> '$.address.province' as address_province,
        _airbyte_data ->> '$.address.postal_code' as address_postal_code,
        _airbyte_data ->> '$.address.country_code' as address_country_code,
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
        partition by user_id
        order by updated_at desc nulls last, extracted_at desc, airbyte_raw_id desc
    ) = 1
),

final as (
    select * exclude (airbyte_raw_id)
    from latest
)

select * from final
