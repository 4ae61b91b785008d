-- What an incremental refresh rebuilds, by (time_period, time_identifier, source, geographic_level,
-- geography_code): the rule is written once, in macros/survey_changes.sql. Empty in a full build (no new exports
-- are named then: everything is rebuilt). `year_after`: a row mart_indicators rebuilds for its previous_value
-- alone. A plan, not data: kept beside the staging views, out of the warehouse file a release copies.
{{ config(database='staging') }}
{%- set levels = ['MAT', 'Local authority', 'Regional', 'National'] %}
-- every copy of the new exports' responses, earlier ones included (which copy counts may change): the lake rows of
-- their keys alone
with exports as (
    select
        cast(time_period as integer) as time_period,
        {{ survey_time_identifier('term') }} as time_identifier,
        instrument as source,
        school_urn as urn
    from {{ source('surveys', 'survey_responses') }}
    where response_key in ({{ new_survey_response_keys() }})
),

schools as (
    select distinct time_period, time_identifier, source, urn
    from exports
    where urn is not null
),

located as (
    select schools.*, spine.trust_id, spine.new_la_code, spine.region_code
    from schools
    left join {{ ref('int_school_years_spined') }} as spine
        on schools.time_period = spine.time_period and schools.urn = spine.urn
),

changed as (
    select time_period, time_identifier, source, 'School' as geographic_level, urn as geography_code
    from located
    {%- for level in levels %}
    union
    select time_period, time_identifier, source, '{{ level }}', {{ level_code(level) }}
    from located
    where {{ level_code(level) }} is not null
    {%- endfor %}
),

year_after as (
    select time_period + 101 as time_period, time_identifier, source, geographic_level, geography_code
    from changed
    union
    -- the schools whose previous year's figures are a changed school's
    select previous.time_period, changed.time_identifier, changed.source, 'School', previous.urn
    from changed
    inner join {{ ref('int_school_previous_urns') }} as previous
        on previous.time_period = changed.time_period + 101 and previous.previous_urn = changed.geography_code
    where changed.geographic_level = 'School'
)

select *, false as year_after from changed
union all
select *, true as year_after from year_after
