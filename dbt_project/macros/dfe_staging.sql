{#- Staging for one EES publication: columns as declared in ingestion/lake_schema.py, one row per
    (time_period, time_identifier, geographic_level, geography_key, phase). The raw lake is append-only, so
    the same row can arrive from several landing files (a corrected or re-issued file has another sha256):
    the most recently loaded copy wins. `attributes`: the publication's text columns beside its measures
    (lake_schema.DFE_ATTRIBUTES); a lake written before one existed reads it as null. `keys`: attributes that
    also identify a row (the by-characteristic files: one row per pupil group). -#}
{% macro dfe_staging(table, measures, attributes=[], keys=[]) -%}
with source as (
    select * from {{ source('dfe', table) }}
    {%- if attributes %}
    -- every column of the lake schema, also from Parquet files written before it had this one (null there)
    union all by name
    select
        {%- for a in attributes %}
        cast(null as varchar) as {{ a }}{{ ',' if not loop.last }}
        {%- endfor %}
    where false
    {%- endif %}
),

renamed as (
    select
        cast(time_period as integer) as time_period,
        time_identifier,
        geographic_level,
        {{ dfe_geography_key() }} as geography_key,
        country_code,
        country_name,
        region_code,
        region_name,
        old_la_code,
        new_la_code,
        la_name,
        school_urn,
        school_laestab,
        school_name,
        coalesce(phase, 'Total') as phase,
        publication,
        vintage,
        {%- for m in measures %}
        cast({{ m }} as double) as {{ m }},
        {{ m }}_status,
        {%- endfor %}
        {%- for a in attributes %}
        {{ a }},
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
    partition by time_period, time_identifier, geographic_level, geography_key, phase
        {%- for k in keys %}, {{ k }}{% endfor %}
    order by loaded_at desc, source_sha256 desc, row_number
) = 1
{%- endmacro %}

{% macro dfe_geography_key() -%}
    case geographic_level
        when 'School' then coalesce(school_urn, 'laestab:' || school_laestab)
        when 'Local authority' then coalesce(new_la_code, 'old:' || old_la_code)
        when 'Regional' then region_code
        when 'National' then country_code
        else concat_ws('|', region_code, old_la_code, new_la_code, la_name, school_urn, school_laestab)
    end
{%- endmacro %}
