-- The school-year spine: every establishment open during each academic year, described by the GIAS
-- snapshot nearest that year's January census (phase, LA, region). Its trust is that year's, never a later
-- year's (`trust_source` says where it came from):
--   1. `gias_snapshot`: the year's own GIAS snapshot (int_academic_years_listed.gias_snapshot_date, taken during
--      that academic year) lists the school. It wins where the census names a trust too: GIAS is the register
--      of trust membership, keyed by trust code, while the census names the trust in words that we match to a
--      code; a snapshot taken during the year is as much "that year's" as the census.
--   2. `census`: otherwise, the trust column of that January's census (the long files from 2025/26 on). A
--      named trust is matched to a GIAS trust code by name (case and spacing ignored, any snapshot: trust names
--      are stable, the snapshot of the year may not exist). A name no GIAS snapshot knows keeps the school in a
--      trust of its own name, trust_id `census:<name, lower case>`, so its schools still count together and
--      are never dropped. A school the census says is in no trust is in no trust that year (trust_id null).
--   3. neither: trust_id and trust_name `unknown` (the school counts in no trust that year).
-- A school that converts to an academy during the year is open under both URNs that year (GIAS closes the
-- predecessor and opens the successor); `census_urn` names the one of the two the January census counted, the
-- URN open on census day, so that the school counts once and its series continues from the URN that holds its
-- figures.
with years as (
    select * from {{ ref('int_academic_years_listed') }}
),

establishments as (
    select * from {{ ref('stg_gias__establishments') }}
    where
        establishment_type_group is null
        or establishment_type_group in (
            {%- for g in var('spine_establishment_type_groups') %}                '{{ g }}'{{ ', ' if not loop.last }}                {% endfor -%}
        )
),

nearest as (
    select
        years.time_period,
        years.academic_year,
        years.year_start,
        years.year_end,
        years.census_date,
        years.gias_snapshot_date,
        establishments.*
    from years
    inner join establishments on true
    qualify row_number() over (
        partition by years.time_period, establishments.urn
        order by
            abs(date_diff('day', establishments.snapshot_date, years.census_date)), establishments.snapshot_date desc
    ) = 1
),

open_in_year as (
    select *
    from nearest
    where
        (open_date is null or open_date <= year_end)
        and (close_date is null or close_date >= year_start)
        and (open_date is not null or coalesce(establishment_status, '') not ilike 'proposed%')
),

-- each school's trust in each year's own snapshot
trusts as (
    select
        years.time_period,
        e.urn,
        nullif(trim(e.trust_code), '') as trust_id,
        e.trust_name
    from years
    inner join {{ ref('stg_gias__establishments') }} as e on years.gias_snapshot_date = e.snapshot_date
),

-- every trust name any GIAS snapshot gives, with its code (of two codes under one name, the latest snapshot's)
gias_trust_names as (
    select
        lower(regexp_replace(trim(trust_name), '\s+', ' ', 'g')) as name_key,
        trim(trust_code) as trust_id,
        trust_name
    from {{ ref('stg_gias__establishments') }}
    where nullif(trim(trust_code), '') is not null and nullif(trim(trust_name), '') is not null
    qualify row_number() over (partition by name_key order by snapshot_date desc, trust_code) = 1
),

-- each school's trust as that year's census names it (the trust column of the long census files)
census_named as (
    select
        time_period,
        school_urn as urn,
        trust_status,
        regexp_replace(trim(trust), '\s+', ' ', 'g') as trust,
        lower(regexp_replace(trim(trust), '\s+', ' ', 'g')) as name_key
    from {{ ref('stg_dfe__census_rows') }}
    where
        geographic_level = 'School'
        and school_urn is not null
        and trust_status in ('value', 'not_applicable')
),

census_trusts as (
    select
        census_named.time_period,
        census_named.urn,
        case
            when census_named.trust_status = 'value'
                then coalesce(gias_trust_names.trust_id, 'census:' || census_named.name_key)
        end as trust_id,
        case
            when census_named.trust_status = 'value'
                -- one name per trust: GIAS's spelling, else the census's first (in name order) of that name
                then coalesce(
                    gias_trust_names.trust_name,
                    min(census_named.trust) over (partition by census_named.name_key)
                )
        end as trust_name
    from census_named
    left join gias_trust_names on census_named.name_key = gias_trust_names.name_key
    -- one row per school and year (a school listed twice with two trusts: the first in name order)
    qualify row_number() over (
        partition by census_named.time_period, census_named.urn order by census_named.trust nulls last
    ) = 1
),

lookup as (
    select * from {{ ref('geography_lookups') }}
),

-- LA -> region as the DfE published it on its own LA rows (fallback when GIAS gives no usable region)
dfe_la_regions as (
    select
        new_la_code,
        region_code
    from (
        select
            new_la_code,
            region_code
        from {{ ref('stg_dfe__exclusions') }}
        where geographic_level = 'Local authority'
        union all
        select
            new_la_code,
            region_code
        from {{ ref('stg_dfe__absences') }}
        where geographic_level = 'Local authority'
    )
    where region_code like 'E12%' and new_la_code is not null
    group by new_la_code, region_code
    qualify row_number() over (partition by new_la_code order by count(*) desc, region_code) = 1
),

placed as (
    select
        s.time_period,
        s.academic_year,
        s.urn,
        s.laestab,
        s.establishment_name as school_name,
        s.phase_of_education as phase,
        s.type_of_establishment,
        s.establishment_type_group,
        s.open_date,
        s.close_date,
        -- the year's snapshot, else the census of that January, else `unknown` (it counts in no trust that year)
        case
            when trusts.urn is not null then trusts.trust_id
            when census_trusts.urn is not null then census_trusts.trust_id
            else 'unknown'
        end as trust_id,
        case
            when trusts.urn is not null then case when trusts.trust_id is not null then trusts.trust_name end
            when census_trusts.urn is not null then census_trusts.trust_name
            else 'unknown'
        end as trust_name,
        case
            when trusts.urn is not null then 'gias_snapshot'
            when census_trusts.urn is not null then 'census'
        end as trust_source,
        coalesce(la.old_la_code, s.la_code) as old_la_code,
        s.gss_la_code as new_la_code,
        coalesce(la.name, s.la_name) as la_name,
        coalesce(region_by_name.code, region_by_la.code) as region_code,
        coalesce(region_by_name.name, region_by_la.name) as region_name,
        s.snapshot_date,
        (s.open_date is null or s.open_date <= s.census_date)
        and (s.close_date is null or s.close_date >= s.census_date) as open_on_census_day
    from open_in_year as s
    left join trusts on s.time_period = trusts.time_period and s.urn = trusts.urn
    left join census_trusts on s.time_period = census_trusts.time_period and s.urn = census_trusts.urn
    left join lookup as la
        on la.geographic_level = 'Local authority' and s.gss_la_code = la.code
    left join lookup as region_by_name
        on region_by_name.geographic_level = 'Regional' and lower(region_by_name.name) = lower(trim(s.region_name))
    left join dfe_la_regions on s.gss_la_code = dfe_la_regions.new_la_code
    left join lookup as region_by_la
        on region_by_la.geographic_level = 'Regional' and dfe_la_regions.region_code = region_by_la.code
    -- a new LA code can carry two old codes (Birmingham 330/333): keep the one GIAS uses
    qualify row_number() over (
        partition by s.time_period, s.urn order by (la.old_la_code = s.la_code) desc nulls last, la.old_la_code
    ) = 1
),

links as (
    select * from {{ ref('int_school_links_resolved') }}
)

-- the URN the January census counted the school under: its own when open on census day; else (converted
-- during the year) its predecessor's when the predecessor was open on census day (successor opened after
-- census day), or its successor's when the successor was (predecessor closed before census day)
select
    placed.* exclude (open_on_census_day),
    case
        when placed.open_on_census_day then placed.urn
        when predecessor.urn is not null then predecessor.urn
        when successor.urn is not null then successor.urn
        else placed.urn
    end as census_urn
from placed
left join links as own_link on placed.urn = own_link.urn
left join placed as predecessor
    on
        predecessor.time_period = placed.time_period
        and predecessor.urn = own_link.predecessor_urn
        and predecessor.open_on_census_day
left join links as successor_link on placed.urn = successor_link.predecessor_urn
left join placed as successor
    on
        successor.time_period = placed.time_period
        and successor.urn = successor_link.urn
        and successor.open_on_census_day
qualify row_number() over (partition by placed.time_period, placed.urn order by successor.urn) = 1
