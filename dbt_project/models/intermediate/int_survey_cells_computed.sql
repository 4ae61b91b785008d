-- School-level survey cells per instrument and wave (time_period + time_identifier): respondents, response
-- rate, scale mean (with the sums behind its CI), positive share, item agreement and the SEND/FSM gaps, by
-- breakdown (Total, year_group, gender, send, fsm, role). Only responses included in the scale count.
-- Indicator names are bare for the primary (pupil) instrument, prefixed for the others (staff_...).
with responses as (
    select * from {{ ref('int_survey_responses_scored') }}
    where included
),

answers as (
    select * from {{ ref('stg_surveys__answers') }}
),

by_breakdown as (
    select *, 'Total' as breakdown, 'Total' as breakdown_value from responses
    {%- for b in ['year_group', 'gender', 'send', 'fsm', 'role'] %}
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
        sum(scale_score) as sum_score,
        sum(scale_score * scale_score) as sum_sq,
        count(*) filter (where scale_score > 50) as n_positive
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

cells as (
    select k.*, 'respondents' as indicator, 'sum' as kind, 1.0 as scale, true as included, 'value' as value_status,
        cast(s.n as double) as num, cast(null as double) as den, cast(null as double) as num_sq,
        cast(null as double) as num2, cast(null as double) as den2, cast(null as double) as num2_sq,
        s.n as respondents
    from keys as k
    inner join scale as s using (time_period, time_identifier, instrument, urn, breakdown, breakdown_value)

    union all
    select k.*, 'belonging_score_mean', 'mean', 1.0, true, 'value',
        s.sum_score, s.n, s.sum_sq, null, null, null, s.n
    from keys as k
    inner join scale as s using (time_period, time_identifier, instrument, urn, breakdown, breakdown_value)

    union all
    select k.*, 'belonging_positive_percent', 'ratio', 100.0, true, 'value',
        s.n_positive, s.n, null, null, null, null, s.n
    from keys as k
    inner join scale as s using (time_period, time_identifier, instrument, urn, breakdown, breakdown_value)

    union all
    select k.*, i.item_id || '_agree_percent', 'ratio', 100.0, i.answered > 0,
        case when i.answered > 0 then 'value' else 'missing' end,
        i.agreed, i.answered, null, null, null, null, i.answered
    from keys as k
    inner join items as i using (time_period, time_identifier, instrument, urn, breakdown, breakdown_value)

    union all
    -- pupils: against the census roll of the year groups surveyed; staff: no invited count in the lake
    -- more respondents than pupils on the roll of those year groups: that census does not describe the
    -- surveyed cohort (an earlier year's roll, misreported year groups), so no rate is published and the
    -- school is left out of the aggregate rates
    select k.*, 'response_rate_percent', 'ratio', 100.0,
        coalesce(r.usable and s.n <= r.pupils, false),
        case
            when k.instrument like 'staff%' then 'not_available'
            when r.usable and r.pupils = 0 then 'not_applicable'
            when r.usable and s.n > r.pupils then 'not_available'
            when r.usable then 'value'
            else coalesce(r.status, 'missing')
        end,
        case when r.usable and s.n <= r.pupils then s.n end,
        case when r.usable and s.n <= r.pupils then r.pupils end,
        null, null, null, null, s.n
    from keys as k
    inner join scale as s using (time_period, time_identifier, instrument, urn, breakdown, breakdown_value)
    left join roll_cells as r using (time_period, time_identifier, instrument, urn, breakdown, breakdown_value)
    where k.breakdown in ('Total', 'year_group')

    {%- for g in ['send', 'fsm'] %}
    union all
    -- non-{{ g }} mean minus {{ g }} mean: positive = {{ g }} pupils feel they belong less
    select k.*, 'belonging_gap_{{ g }}', 'gap', 1.0, (coalesce(no_.n, 0) + coalesce(yes_.n, 0)) > 0,
        case when no_.n > 0 and yes_.n > 0 then 'value' else 'missing' end,
        no_.sum_score, no_.n, no_.sum_sq, yes_.sum_score, yes_.n, yes_.sum_sq,
        coalesce(no_.n, 0) + coalesce(yes_.n, 0)
    from keys as k
    left join scale as no_
        on no_.time_period = k.time_period and no_.time_identifier = k.time_identifier
        and no_.instrument = k.instrument and no_.urn = k.urn
        and no_.breakdown = '{{ g }}' and no_.breakdown_value = 'No'
    left join scale as yes_
        on yes_.time_period = k.time_period and yes_.time_identifier = k.time_identifier
        and yes_.instrument = k.instrument and yes_.urn = k.urn
        and yes_.breakdown = '{{ g }}' and yes_.breakdown_value = 'Yes'
    where k.breakdown = 'Total' and k.instrument not like 'staff%'
    {%- endfor %}
)

select
    time_period,
    time_identifier,
    urn,
    instrument as source,
    -- the mart's key has no `source`: indicators of other instruments carry the instrument's prefix
    -- (staff_belonging -> staff_belonging_score_mean, staff_valued_agree_percent)
    case
        when instrument = '{{ var("primary_survey_instrument") }}' then indicator
        else replace(instrument, '_belonging', '') || '_' || indicator
    end as indicator,
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
