-- In-year attendance (issue 15): each attendance entry of the indicator catalogue (indicators/catalogue.yaml,
-- family `attendance`, formula `published`) at the DfE's own National, Regional and Local authority rows of
-- "Pupil attendance in schools", by education phase (breakdown `education_phase`; `Total` the DfE's Total
-- phase), year to date (`Academic year`) and by week (`Week N`, whose time_period is the calendar year as the DfE
-- publishes it). Never rolled up from schools: the file has none. The value is the DfE's rate (`rate`), with the
-- counts behind it where the entry names them; its status is the rate cell's (a one-school LA's `c` stays
-- suppressed). A figure a file does not publish at all (the weekly file has no persistent absence) has no row.
{%- set entries = catalogue('attendance') %}
with attendance as (
    select * from {{ ref('stg_dfe__attendance') }}
    -- the nine regions (E12): the lookup's Regional level; Inner and Outer London are not regions of it
    where geographic_level in ('National', 'Local authority')
       or (geographic_level = 'Regional' and region_code like 'E12%')
),

cells as (
    {%- for e in entries %}
    select
        case when time_identifier like 'Week %' then cast(week_year as integer) else time_period end as time_period,
        time_identifier,
        geographic_level,
        geography_key as geography_code,
        region_code,
        region_name,
        old_la_code,
        new_la_code,
        la_name,
        phase,
        '{{ e["id"] }}' as indicator,
        {{ e['rate_column'] }} as value,
        {{ e['rate_column'] }}_status as value_status,
        {%- if e['den_column'] %}
        {{ e['num_columns'][0].split('__')[1] }} as numerator,
        {{ e['den_column'].split('__')[1] }} as denominator,
        {%- else %}
        cast(null as double) as numerator,
        cast(null as double) as denominator,
        {%- endif %}
        num_schools,
        source_sha256
    from attendance
    where geographic_level in {{ sql_list(e['levels']) }}
    {%- if 'education_phase' not in e['breakdowns'] %}
        and phase = 'Total'
    {%- endif %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    cast(time_period as integer) as time_period,
    time_identifier,
    geographic_level,
    geography_code,
    {{ dfe_aggregate_geography() }},
    'attendance' as source,
    indicator,
    case when phase = 'Total' then 'Total' else 'education_phase' end as breakdown,
    phase as breakdown_value,
    -- the counts follow the rate: shown where it is
    case when value_status in ('value', 'low_reliability') then numerator end as numerator,
    case when value_status in ('value', 'low_reliability') then denominator end as denominator,
    case when value_status in ('value', 'low_reliability') then value end as value,
    value_status,
    cast(null as double) as ci_lower,
    cast(null as double) as ci_upper,
    cast(null as bigint) as respondents,
    -- the schools the DfE counted (an average over the period's days: rounded)
    cast(round(num_schools) as integer) as schools_included,
    cast(round(num_schools) as integer) as schools_total
from cells
qualify not bool_and(value_status = 'missing') over (partition by source_sha256, indicator)
