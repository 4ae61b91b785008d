{#- the catalogue's definitions travel with the model into the dbt docs (meta `indicators`) -#}
{{ config(meta={'indicators': var('indicators')}, materialized='incremental', incremental_strategy='append',
          on_schema_change='fail',
          pre_hook="{% if is_incremental() %}delete from {{ this }}
              where {{ survey_changed_rows(year_after=true) }}{% endif %}") }}
-- THE indicators table (docs/ARCHITECTURE.md "Marts"): every indicator, every level, every breakdown, with
-- the year-on-year change. School series follow GIAS links: a converted academy's previous value is its
-- predecessor's (urn_changed = true), including the year after a conversion that came after census day, when
-- the successor was open but the predecessor held the year's figures (the spine's census_urn).
-- Incremental by geography, as int_indicators_aggregated (macros/survey_changes.sql): an incremental refresh deletes
-- and rebuilds the rows of the geographies the new exports change, in their waves and in the same waves a year
-- later (previous_value reads the changed ones); the admin, attendance and characteristic rows are then unchanged.
-- depends_on: {{ ref('int_survey_changes_located') }}
-- not materialized: each reader scans the tables with its own filters and columns (prev: the key and value alone),
-- not a materialised copy of every column of every row (national, this select alone: 50 s with the whole rows
-- joined as prev, 38 s with the narrow prev, 9 s with it not materialised as well)
with all_rows as not materialized (
    select * from {{ ref('int_indicators_aggregated') }}
    -- in-year attendance: the DfE's own aggregate rows, provisional (issue 15)
    union all by name
    select * from {{ ref('int_attendance_indicators_published') }}
    union all by name
    -- the DfE's own aggregates by pupil characteristic (disproportionality): not rolled up from schools
    select * from {{ ref('int_characteristic_indicators_computed') }}
),

rows_ as (
    select * from all_rows
    {%- if is_incremental() %}
    where {{ survey_changed_rows(year_after=true) }}
    {%- endif %}
),

-- each row's value as the row of the year after reads it (previous_value): the key and the value alone, not
-- every column of the rows (the join's hash table holds a national mart's worth of them)
prev as (
    select
        time_period + 101 as time_period,
        time_identifier,
        geographic_level,
        geography_code,
        source,
        indicator,
        breakdown,
        breakdown_value,
        value
    from all_rows
    {%- if is_incremental() %}
    where (time_period + 101, time_identifier, source) in (
        select time_period, time_identifier, source from {{ ref('int_survey_changes_located') }})
    {%- endif %}
),

years as (
    select * from {{ ref('int_academic_years_listed') }}
),

previous_urn as (
    select * from {{ ref('int_school_previous_urns') }}
),

keyed as (
    select
        rows_.*,
        case
            when rows_.geographic_level = 'School' then coalesce(previous_urn.previous_urn, rows_.geography_code)
            else rows_.geography_code
        end as previous_geography_code,
        coalesce(previous_urn.previous_urn <> previous_urn.urn, false) as urn_changed
    from rows_
    left join previous_urn
        on
            rows_.geographic_level = 'School'
            and rows_.time_period = previous_urn.time_period
            and rows_.geography_code = previous_urn.urn
)

select
    cast(keyed.time_period as integer) as time_period,
    keyed.time_identifier,
    years.academic_year,
    keyed.geographic_level,
    keyed.geography_code,
    'E92000001' as country_code,
    'England' as country_name,
    case when keyed.geographic_level in ('School', 'Local authority', 'Regional') then keyed.region_code end
        as region_code,
    case when keyed.geographic_level in ('School', 'Local authority', 'Regional') then keyed.region_name end
        as region_name,
    case when keyed.geographic_level in ('School', 'Local authority') then keyed.old_la_code end as old_la_code,
    case when keyed.geographic_level in ('School', 'Local authority') then keyed.new_la_code end as new_la_code,
    case when keyed.geographic_level in ('School', 'Local authority') then keyed.la_name end as la_name,
    keyed.trust_id,
    keyed.trust_name,
    keyed.school_urn,
    keyed.school_laestab,
    keyed.school_name,
    keyed.phase,
    keyed.source,
    keyed.indicator,
    keyed.breakdown,
    keyed.breakdown_value,
    {{ settle('keyed.numerator') }} as numerator,
    {{ settle('keyed.denominator') }} as denominator,
    {{ settle('keyed.value') }} as value,
    keyed.value_status,
    {{ settle('keyed.ci_lower') }} as ci_lower,
    {{ settle('keyed.ci_upper') }} as ci_upper,
    cast(keyed.respondents as bigint) as respondents,
    cast(keyed.schools_included as integer) as schools_included,
    cast(keyed.schools_total as integer) as schools_total,
    {{ settle('prev.value') }} as previous_value,
    {{ settle('keyed.value - prev.value') }} as change,
    keyed.urn_changed
from keyed
left join years on keyed.time_period = years.time_period
left join prev
    on
        prev.time_period = keyed.time_period
        and keyed.time_identifier = prev.time_identifier
        and keyed.geographic_level = prev.geographic_level
        and keyed.previous_geography_code = prev.geography_code
        and keyed.source = prev.source
        and keyed.indicator = prev.indicator
        and keyed.breakdown = prev.breakdown
        and keyed.breakdown_value = prev.breakdown_value
