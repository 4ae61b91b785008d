-- Suspensions and permanent exclusions by pupil characteristic, as landed (ingestion/characteristics.py): one
-- row per time period, geography, phase and category; the most recently loaded copy of a row wins.
with source as (
    select * from {{ source('dfe', 'dfe_exclusions_characteristics') }}
),

renamed as (
    select
        cast(time_period as integer) as time_period,
        time_identifier,
        geographic_level,
        {{ dfe_geography_key() }} as geography_key,
        country_code,
        region_code,
        region_name,
        old_la_code,
        new_la_code,
        la_name,
        coalesce(phase, 'Total') as phase,
        characteristic_group,
        characteristic,
        breakdown,
        breakdown_value,
        vintage,
        {%- for m in ['headcount', 'perm_excl', 'suspension', 'one_plus_susp'] %}
        cast({{ m }} as double) as {{ m }},
        {{ m }}_status,
        {%- endfor %}
        row_number,
        _source_file as source_file,
        _source_sha256 as source_sha256,
        _loaded_at as loaded_at
    from source
)

select *
from renamed
qualify row_number() over (
    partition by time_period, time_identifier, geographic_level, geography_key, phase, breakdown, breakdown_value
    order by loaded_at desc, source_sha256 desc, row_number
) = 1
