-- School-level admin indicator cells: one row per spine school, year and indicator, with the summable parts
-- (num, den) and whether the school's inputs enter aggregates (`included`). An indicator exists for a year
-- when its numerator was published for some school that year (severe absence: recent years only).
{%- set admin = admin_indicators() %}
{%- set reps = representation_indicators() %}
with spine as (
    select * from {{ ref('int_school_years_spined') }}
),

inputs as (
    select * from {{ ref('int_admin_inputs_pivoted') }}
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
        {%- for d in admin + reps %}
        {%- for i in d['num'] %}
        , bool_or(coalesce({{ i }}_status, 'missing') <> 'missing') as has_{{ d['indicator'] }}_{{ loop.index }}
        {%- endfor %}
        {%- endfor %}
    from inputs
    group by time_period
),

cells as (
    {%- for d in admin %}
    {%- set inputs_ = d['num'] + ([d['den']] if d['den'] else []) %}
    select
        schools.time_period,
        schools.urn,
        '{{ d["indicator"] }}' as indicator,
        '{{ d["kind"] }}' as kind,
        cast({{ d['scale'] }} as double) as scale,
        {{ cell_included(inputs_) }} as included,
        {{ cell_status(inputs_, d['den']) }} as value_status,
        case when {{ cell_included(inputs_) }} then {{ d['num'] | join(' + ') }} end as num,
        case when {{ cell_included(inputs_) }} then {{ d['den'] if d['den'] else 'null' }} end as den
    from schools
    inner join published on published.time_period = schools.time_period and published.has_{{ d['indicator'] }}_1
    union all
    {%- endfor %}
    {%- for d in reps %}
    {%- set inputs_ = d['num'] + [d['den']] %}
    select
        schools.time_period,
        schools.urn,
        '{{ d["indicator"] }}' as indicator,
        'ratio' as kind,
        cast(1 as double) as scale,
        {{ cell_included(inputs_) }} and local_share is not null as included,
        case
            when not {{ cell_included(inputs_) }} then {{ cell_status(inputs_, none) }}
            when local_share is null then 'missing'
            when {{ d['den'] }} * local_share = 0 then 'not_applicable'
            else 'value'
        end as value_status,
        case when {{ cell_included(inputs_) }} and local_share is not null then {{ d['num'] | join(' + ') }} end as num,
        case when {{ cell_included(inputs_) }} and local_share is not null then {{ d['den'] }} * local_share end as den
    from (
        select
            schools.*,
            -- the same share across all schools of the same phase in the same LA (those with usable inputs)
            sum(case when {{ cell_included(inputs_) }} then {{ d['num'] | join(' + ') }} end)
                over (partition by schools.time_period, schools.new_la_code, schools.phase)
            / nullif(sum(case when {{ cell_included(inputs_) }} then {{ d['den'] }} end)
                over (partition by schools.time_period, schools.new_la_code, schools.phase), 0) as local_share
        from schools
    ) as schools
    inner join published on published.time_period = schools.time_period and published.has_{{ d['indicator'] }}_1
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    time_period,
    'Academic year' as time_identifier,
    urn,
    'admin' as source,
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
