-- Indicators by pupil characteristic (disproportionality, issue 15), from the DfE's own National, Regional and
-- Local authority rows (stg_dfe__exclusion_characteristics), all phases together (phase `Total`): one row per
-- year, geography, catalogue entry of a by-characteristic formula (indicators/catalogue.yaml, rollup
-- `published`: never summed from schools) and category, in the shape of int_indicators_aggregated.
--   characteristic_rate  numerator / denominator x scale of the category's own row (Total: all pupils)
--   risk_ratio           the group's one-plus share (a of n1) over its comparison group's (c of n2), from pupils:
--                        the catalogue entry's `comparison` per breakdown, a category's own row or `rest` (the
--                        Total row less the group); 95% CI on the log scale (Katz):
--                        exp(ln RR +/- 1.96 sqrt(1/a - 1/n1 + 1/c - 1/n2)). numerator / denominator: the two
--                        groups' percentages. Not computable (not_applicable) when a or c is 0.
-- A cell whose inputs the DfE did not publish as numbers keeps the first such input's status (never 0).
-- Regional rows are the nine E12 regions (2019-era files also publish Inner and Outer London, E13).
{%- set entries = catalogue('admin') | selectattr('rollup', 'equalto', 'published') | list %}
with staged as (
    select * from {{ ref('stg_dfe__exclusion_characteristics') }}
    where
        phase = 'Total'
        and time_identifier ilike 'academic year'
        and (
            geographic_level = 'National'
            or (geographic_level = 'Regional' and region_code like 'E12%')
            or (geographic_level = 'Local authority' and new_la_code is not null)
        )
),

placed as (
    select
        *,
        case geographic_level
            when 'National' then 'E92000001'
            when 'Regional' then region_code
            else new_la_code
        end as geography_code
    from staged
),

cells as (
    {%- if not entries %}
    select
        placed.*, cast(null as varchar) as indicator, 'missing' as value_status,
        {%- for c in ['num', 'den', 'value', 'a', 'n1', 'c', 'n2'] %}
        cast(null as double) as {{ c }}{{ ',' if not loop.last }}
        {%- endfor %}
    from placed
    where false
    {%- endif %}
    {%- for e in entries %}
    {%- set num = e['numerator'][0].split('.')[1] %}
    {%- set den = e['denominator'].split('.')[1] %}
    {%- if e['formula'] == 'characteristic_rate' %}
    select
        placed.* exclude (breakdown, breakdown_value),
        '{{ e["id"] }}' as indicator,
        placed.breakdown,
        placed.breakdown_value,
        {{ cell_status([num, den], den) }} as value_status,
        {{ num }} as num,
        {{ den }} as den,
        {{ num }} / nullif({{ den }}, 0) * {{ e['scale'] }} as value,
        cast(null as double) as a,
        cast(null as double) as n1,
        cast(null as double) as c,
        cast(null as double) as n2
    from placed
    where placed.breakdown in {{ sql_list(e['breakdowns']) }}
    {%- elif e['formula'] == 'risk_ratio' %}
    select
        g.* exclude (breakdown, breakdown_value),
        '{{ e["id"] }}' as indicator,
        g.breakdown,
        g.breakdown_value,
        case
            when {{ cell_status(['g.' ~ num, 'g.' ~ den, 'cmp.' ~ num, 'cmp.' ~ den], none) }} <> 'value'
                then {{ cell_status(['g.' ~ num, 'g.' ~ den, 'cmp.' ~ num, 'cmp.' ~ den], none) }}
            when g.{{ num }} = 0 or g.{{ den }} = 0 then 'not_applicable'
            when (case when cmp.breakdown = 'Total' then cmp.{{ num }} - g.{{ num }} else cmp.{{ num }} end) <= 0
                or (case when cmp.breakdown = 'Total' then cmp.{{ den }} - g.{{ den }} else cmp.{{ den }} end) <= 0
                then 'not_applicable'
            else 'value'
        end as value_status,
        g.{{ num }} as a,
        g.{{ den }} as n1,
        case when cmp.breakdown = 'Total' then cmp.{{ num }} - g.{{ num }} else cmp.{{ num }} end as c,
        case when cmp.breakdown = 'Total' then cmp.{{ den }} - g.{{ den }} else cmp.{{ den }} end as n2,
        cast(null as double) as num,
        cast(null as double) as den,
        cast(null as double) as value
    from placed as g
    inner join placed as cmp
        on
            g.time_period = cmp.time_period
            and g.geographic_level = cmp.geographic_level
            and g.geography_code = cmp.geography_code
            and (
                {%- for breakdown, versus in e['comparison'].items() %}
                (g.breakdown = '{{ breakdown }}' and g.breakdown_value <> '{{ versus }}'
                    and {% if versus == 'rest' %}cmp.breakdown = 'Total'{% else %}cmp.breakdown = '{{ breakdown }}' and cmp.breakdown_value = '{{ versus }}'{% endif %})
                {{ 'or' if not loop.last }}
                {%- endfor %}
            )
    {%- endif %}
    {%- if not loop.last %}
    union all by name
    {%- endif %}
    {%- endfor %}
),

valued as (
    select
        * exclude (a, n1, c, n2),
        coalesce(num, a / n1 * 100) as numerator,
        coalesce(den, c / n2 * 100) as denominator,
        coalesce(value, case when value_status = 'value' and a is not null then (a / n1) / (c / n2) end)
            as ratio_value,
        case when value_status = 'value' and a is not null
            then 1.96 * sqrt(greatest(1 / a - 1 / n1 + 1 / c - 1 / n2, 0)) end as log_half
    from cells
)

select
    time_period,
    'Academic year' as time_identifier,
    geographic_level,
    geography_code,
    {{ dfe_aggregate_geography() }},
    'admin' as source,
    indicator,
    breakdown,
    breakdown_value,
    case when value_status = 'value' then numerator end as numerator,
    case when value_status = 'value' then denominator end as denominator,
    case when value_status = 'value' then ratio_value end as value,
    value_status,
    case when log_half is not null then exp(ln(ratio_value) - log_half) end as ci_lower,
    case when log_half is not null then exp(ln(ratio_value) + log_half) end as ci_upper,
    cast(null as bigint) as respondents,
    cast(null as integer) as schools_included,
    cast(null as integer) as schools_total
from valued
