-- School-level admin indicator cells: one row per spine school, year and admin indicator of the catalogue
-- (indicators/catalogue.yaml), computed by its formula (macros/indicators/admin_formulas.sql), with the
-- summable parts (num, den) and whether the school's inputs enter aggregates (`included`). An indicator
-- exists for a year when its numerator was published for some school that year (severe absence: recent
-- years only); a cohort indicator (roll stability) when its denominator was published `years` earlier too.
{#- not the by-characteristic formulas (rollup `published`): int_characteristic_indicators_computed -#}
{%- set admin = catalogue('admin') | rejectattr('rollup', 'equalto', 'published') | list %}
{%- set numerators = [] %}
{%- for e in admin if e['num_columns'][0] not in numerators %}{% do numerators.append(e['num_columns'][0]) %}{% endfor %}
{%- for e in catalogue('admin', 'cohort') if e['den_column'] not in numerators %}{% do numerators.append(e['den_column']) %}{% endfor %}
with spine as (
    select * from {{ ref('int_school_years_spined') }}
),

inputs as (
    select * from {{ ref('int_admin_inputs_pivoted') }}
),

-- each school followed back to the same school some years earlier (cohort indicators)
followed as (
    select * from {{ ref('int_school_cohorts_followed') }}
),

schools as (
    select spine.time_period, spine.urn, spine.new_la_code, spine.phase, inputs.* exclude (time_period, urn)
    from spine
    left join inputs on inputs.time_period = spine.time_period and inputs.urn = spine.urn
),

published as (
    -- which numerators exist at all in each year's files
    select
        time_period
        {%- for n in numerators %}
        , bool_or(coalesce({{ n }}_status, 'missing') <> 'missing') as has_{{ n }}
        {%- endfor %}
    from inputs
    group by time_period
),

cells as (
    {%- for e in admin %}
    {{ admin_cell(e) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    time_period,
    'Academic year' as time_identifier,
    urn,
    'admin' as source,
    catalogue_id,
    indicator,
    'Total' as breakdown,
    'Total' as breakdown_value,
    kind,
    scale,
    included,
    value_status,
    num,
    den,
    cast(null as double) as num_sq,
    cast(null as double) as num2,
    cast(null as double) as den2,
    cast(null as double) as num2_sq,
    cast(null as bigint) as respondents
from cells
