with source as (
    select * from {{ source('gias', 'gias_establishments') }}
),

renamed as (
    select
        cast(snapshot_date as date) as snapshot_date,
        urn,
        la_code,
        la_name,
        establishment_number,
        laestab,
        establishment_name,
        type_of_establishment,
        establishment_type_group,
        establishment_status,
        phase_of_education,
        cast(open_date as date) as open_date,
        cast(close_date as date) as close_date,
        trust_code,
        trust_name,
        region_name,
        gss_la_code,
        number_of_pupils,
        percentage_fsm,
        parliamentary_constituency_code,
        _source_file as source_file,
        _source_sha256 as source_sha256,
        _loaded_at as loaded_at
    from source
)

-- the same snapshot may be loaded twice (re-saved file, other sha256): keep the latest load
select *
from renamed
qualify row_number() over (partition by snapshot_date, urn order by loaded_at desc, source_sha256 desc) = 1
