-- School-level survey cells per instrument and wave (time_period + time_identifier) and breakdown: one row
-- per survey indicator of the catalogue (indicators/catalogue.yaml), computed by its formula
-- (macros/indicators/survey_formulas.sql): respondents, response rate, scale mean (with the sums behind its
-- CI), positive share, item agreement and the SEND/FSM gaps. Only responses included in the scale count.
with responses as (
    select * from {{ ref('int_survey_responses_scored') }}
    where included
),

answers as (
    select * from {{ ref('stg_surveys__answers') }}
),

by_breakdown as (
    select *, 'Total' as breakdown, 'Total' as breakdown_value from responses
    {%- for b in survey_breakdowns()[1:] %}
    union all
    select *, '{{ b }}' as breakdown, {{ b }} as breakdown_value from responses where {{ b }} is not null
    {%- endfor %}
),

keys as (
    select distinct time_period, time_identifier, instrument, urn, breakdown, breakdown_value from by_breakdown
),

scale as (
    select
        time_period, time_identifier, instrument, urn, breakdown, breakdown_value,
        count(*) as n,
        -- summed as decimals: exact, so a school's sums are the same whatever order its respondents come in
        sum(cast(scale_score as decimal(18, 12))) as sum_score,
        sum(cast(scale_score as decimal(18, 12)) * cast(scale_score as decimal(18, 12))) as sum_sq,
        count(*) filter (where positive) as n_positive
    from by_breakdown
    group by all
),

items as (
    select
        b.time_period, b.time_identifier, b.instrument, b.urn, b.breakdown, b.breakdown_value, a.item_id,
        count(a.agree) as answered,
        count(*) filter (where a.agree) as agreed
    from by_breakdown as b
    inner join answers as a on a.response_key = b.response_key
    group by all
),

-- pupils on roll in the surveyed year groups (census of the same year, else the latest earlier census):
-- the response-rate denominator
census as (
    select time_period, urn, measure, value, status
    from {{ ref('int_dfe_measures_unpivoted') }}
    where publication = 'census' and geographic_level = 'School' and measure like 'pupils_year_%'
),

surveyed as (
    select distinct
        time_period, time_identifier, instrument, urn, year_group,
        'pupils_year_' || try_cast(trim(replace(year_group, 'Year', '')) as integer) as measure
    from responses
    where year_group ilike 'year %' and try_cast(trim(replace(year_group, 'Year', '')) as integer) is not null
),

roll as (
    select
        surveyed.time_period, surveyed.time_identifier, surveyed.instrument, surveyed.urn,
        surveyed.year_group,
        census.value,
        coalesce(nullif(census.status, 'value'), case when census.value is null then 'missing' else 'value' end)
            as status,
        {{ is_usable('census.value', 'census.status') }} as usable
    from surveyed
    left join census
        on census.time_period <= surveyed.time_period
        and census.urn = surveyed.urn
        and census.measure = surveyed.measure
    -- that year's census, else the latest earlier one (an autumn wave comes before its January census)
    qualify row_number() over (
        partition by surveyed.time_period, surveyed.time_identifier, surveyed.instrument, surveyed.urn,
            surveyed.year_group
        order by census.time_period desc nulls last
    ) = 1
),

roll_cells as (
    select time_period, time_identifier, instrument, urn, 'Total' as breakdown, 'Total' as breakdown_value,
        sum(value) as pupils, bool_and(usable) as usable,
        coalesce(min(status) filter (where not usable), 'value') as status
    from roll
    group by all
    union all
    select time_period, time_identifier, instrument, urn, 'year_group', year_group,
        value, usable, status
    from roll
),

cells (time_period, time_identifier, instrument, urn, breakdown, breakdown_value, {{ survey_cell_columns() }}) as (
    {%- for e in catalogue('survey') %}
    {{ survey_cell(e) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    time_period,
    time_identifier,
    urn,
    instrument as source,
    catalogue_id,
    indicator,
    breakdown,
    breakdown_value,
    kind,
    cast(scale as double) as scale,
    included,
    value_status,
    cast(num as double) as num,
    cast(den as double) as den,
    cast(num_sq as double) as num_sq,
    cast(num2 as double) as num2,
    cast(den2 as double) as den2,
    cast(num2_sq as double) as num2_sq,
    cast(respondents as bigint) as respondents
from cells
