with source as (
    select * from {{ source('gias', 'gias_links') }}
),

renamed as (
    select
        cast(snapshot_date as date) as snapshot_date,
        urn,
        link_urn,
        link_name,
        link_type,
        cast(link_established_date as date) as link_established_date,
        _source_file as source_file,
        _source_sha256 as source_sha256,
        _loaded_at as loaded_at
    from source
)

-- a link is the same link in every snapshot that repeats it: keep the newest snapshot's copy
select *
from renamed
qualify row_number() over (
    partition by urn, link_urn, link_type order by snapshot_date desc, loaded_at desc
) = 1
