-- Every count the DfE published, long: one row per publication, time period, geography, phase and measure,
-- with its status. School rows get their URN resolved from GIAS when the file has none (2016/17 exclusions
-- carry only LAESTAB): the establishment with that LAESTAB open in that year, else the latest one.
{%- set pubs = dfe_publications() %}
with long as (
    {%- for pub, spec in pubs.items() %}
        {%- for m in spec['measures'] %}
            select
                '{{ pub }}' as publication,
                time_period,
                time_identifier,
                geographic_level,
                geography_key,
                phase,
                region_code,
                old_la_code,
                new_la_code,
                school_urn,
                school_laestab,
                '{{ m }}' as measure,
                {{ m }} as value,
                coalesce({{ m }}_status, case when {{ m }} is null then 'missing' else 'value' end) as status,
                source_sha256,
                loaded_at
            from {{ ref(spec['model']) }}
            {% if not loop.last %}union all{% endif %}
        {%- endfor %}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

spine as (
    select * from {{ ref('int_school_years_spined') }}
),

latest_laestab as (
    select
        laestab,
        urn
    from {{ ref('stg_gias__establishments') }}
    where laestab is not null
    qualify row_number() over (
        partition by laestab order by snapshot_date desc, open_date desc nulls last, urn desc
    ) = 1
),

resolved as (
    select
        long.*,
        case
            when long.geographic_level = 'School'
                then coalesce(long.school_urn, spine.urn, latest_laestab.urn)
        end as urn
    from long
    left join spine
        on
            long.geographic_level = 'School'
            and long.school_urn is null
            and long.school_laestab = spine.laestab
            and long.time_period = spine.time_period
    left join latest_laestab
        on
            long.geographic_level = 'School'
            and long.school_urn is null
            and long.school_laestab = latest_laestab.laestab
)

select
    publication,
    time_period,
    time_identifier,
    geographic_level,
    case when geographic_level = 'School' then coalesce(urn, geography_key) else geography_key end as geography_key,
    phase,
    region_code,
    old_la_code,
    new_la_code,
    urn,
    school_laestab,
    measure,
    value,
    status,
    source_sha256,
    loaded_at
from resolved
-- a school published under URN in one file and LAESTAB in another is one school: latest load wins
qualify row_number() over (
    partition by
        publication, time_period, time_identifier, geographic_level,
        case when geographic_level = 'School' then coalesce(urn, geography_key) else geography_key end,
        phase, measure
    order by loaded_at desc, source_sha256 desc
) = 1
