-- School-level survey cells per instrument and wave (time_period + time_identifier) and breakdown: one row
-- per survey indicator of the catalogue (indicators/catalogue.yaml), computed by its formula
-- (macros/indicators/survey_formulas.sql): respondents, response rate, scale mean (with the sums behind its
-- CI), positive share, item agreement and the SEND/FSM gaps. Only responses included in the scale count.
-- Incremental by school and wave (macros/survey_changes.sql): a school's cells read its own responses and census
-- alone, so an incremental refresh deletes the cells of the schools the new exports change, in those waves, and
-- appends them rebuilt.
-- depends_on: {{ ref('int_survey_changes_located') }}
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail',
          pre_hook="{% if is_incremental() %}delete from {{ this }}
              where {{ survey_changed('School', 'urn') }}{% endif %}") }}

with responses as (
    select * from {{ ref('int_survey_responses_scored') }}
    where included
    {%- if is_incremental() %}
    and {{ survey_changed('School', 'urn', source='instrument') }}
    {%- endif %}
),

answers as (
    {%- if is_incremental() %}
    -- the staged answers of these responses, read from the lake rows of their keys alone
    select * from {{ survey_answers_of('select response_key from responses') }}
    {%- else %}
    select * from {{ ref('stg_surveys__answers') }}
    {%- endif %}
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

item_wording as (
    -- a negatively worded item counts disagreement (the belonging direction): its indicator says so
    select instrument, item_id, coalesce(negative, false) as negative from {{ ref('stg_surveys__items') }}
),

items as (
    select
        b.time_period, b.time_identifier, b.instrument, b.urn, b.breakdown, b.breakdown_value, a.item_id,
        coalesce(w.negative, false) as negative,
        count(a.agree) as answered,
        count(*) filter (where a.agree) as agreed
    from by_breakdown as b
    inner join answers as a on a.response_key = b.response_key
    left join item_wording as w on w.instrument = b.instrument and w.item_id = a.item_id
    group by all
),

-- The response-rate denominator: pupils on roll in the year groups that were SURVEYED (census of the same
-- year, else the latest earlier census). Surveyed year groups come from configuration where given (settings
-- surveys.surveyed_year_groups, per instrument or per wave), else they are the year groups holding at least
-- surveys.min_year_group_share of the school's respondents: one stray "Year 12" answer in a Year 7 survey
-- neither adds Year 12's roll nor its respondent. The Total is the sum of the year-group rows it accepts.
census as (
    select time_period, urn, measure, value, status
    from {{ ref('int_dfe_measures_unpivoted') }}
    where publication = 'census' and geographic_level = 'School' and measure like 'pupils_year_%'
),

configured (instrument, wave, year_group) as (
    {%- set rows = [] %}
    {%- for instrument, groups in (var('surveyed_year_groups') or {}).items() %}
        {%- if groups is mapping %}
            {%- for wave, years in groups.items() %}{% for y in years %}{% do rows.append((instrument, wave, y)) %}{% endfor %}{% endfor %}
        {%- else %}
            {%- for y in groups %}{% do rows.append((instrument, none, y)) %}{% endfor %}
        {%- endif %}
    {%- endfor %}
    {%- if rows %}
    values {% for i, w, y in rows %}('{{ i }}', {{ "'" ~ w ~ "'" if w else 'null' }}, '{{ y }}'){{ ', ' if not loop.last }}{% endfor %}
    {%- else %}
    select null::varchar, null::varchar, null::varchar where false
    {%- endif %}
),

year_counts as (
    select
        time_period, time_identifier, instrument, urn, year_group,
        time_period || ' ' || time_identifier as wave,
        'pupils_year_' || try_cast(trim(replace(year_group, 'Year', '')) as integer) as measure,
        count(*) as n
    from responses
    where year_group ilike 'year %' and try_cast(trim(replace(year_group, 'Year', '')) as integer) is not null
    group by all
),

year_respondents as (
    select *, sum(n) over (partition by time_period, time_identifier, instrument, urn) as school_n
    from year_counts
),

surveyed as (
    select
        y.*,
        case
            -- configured for this wave, else for the instrument, else by the share of respondents
            when exists (select 1 from configured c where c.instrument = y.instrument and c.wave = y.wave)
                then exists (select 1 from configured c where c.instrument = y.instrument and c.wave = y.wave
                    and c.year_group = y.year_group)
            when exists (select 1 from configured c where c.instrument = y.instrument and c.wave is null)
                then exists (select 1 from configured c where c.instrument = y.instrument and c.wave is null
                    and c.year_group = y.year_group)
            else y.n >= {{ var('min_year_group_share') }} * y.school_n
        end as surveyed
    from year_respondents as y
),

roll as (
    select
        surveyed.time_period, surveyed.time_identifier, surveyed.instrument, surveyed.urn,
        surveyed.year_group, surveyed.n, surveyed.surveyed,
        census.value as pupils,
        coalesce(nullif(census.status, 'value'), case when census.value is null then 'missing' else 'value' end)
            as census_status,
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

year_rates as (
    -- each year group's rate: not surveyed (not applicable), the census's own status when unusable, no pupils
    -- (not applicable), more respondents than pupils on roll (that census does not describe the surveyed
    -- cohort: not available), else a value
    select
        *,
        case
            when not surveyed then 'not_applicable'
            when not usable then census_status
            when pupils = 0 then 'not_applicable'
            when n > pupils then 'not_available'
            else 'value'
        end as status
    from roll
),

roll_cells as (
    select time_period, time_identifier, instrument, urn, 'year_group' as breakdown, year_group as breakdown_value,
        n as rate_num, pupils as rate_den, status, status = 'value' as included
    from year_rates
    union all
    -- the Total is the sum of the year-group rows it publishes; none published: the surveyed rows' first reason
    select time_period, time_identifier, instrument, urn, 'Total', 'Total',
        sum(n) filter (where status = 'value'), sum(pupils) filter (where status = 'value'),
        case
            when bool_or(status = 'value') then 'value'
            when bool_or(surveyed) then min(status) filter (where surveyed)
            else 'not_available'
        end,
        bool_or(status = 'value')
    from year_rates
    group by all
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
