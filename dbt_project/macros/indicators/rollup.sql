{#- Geography of each level above School: the spine column that names it. A school whose trust that year is
    `unknown` (no GIAS snapshot of the year lists it: int_school_years_spined) counts in no trust. -#}
{% macro level_code(level) -%}
    {{ return({
        'MAT': "nullif(trust_id, 'unknown')",
        'Local authority': 'new_la_code',
        'Regional': 'region_code',
        'National': "'E92000001'",
    }[level]) }}
{%- endmacro %}

{#- The ONE aggregation of school cells to a geographic level: RATIOS OF SUMS. Every summable part (numerator,
    denominator, sums of squares, respondents) is summed over the schools whose inputs are usable
    (`included`); a school with a suppressed or missing input is left out of numerator and denominator alike,
    and `schools_included` counts the schools that entered (a school under two URNs in the year it converted
    once: census_urn). Survey means pool respondents (each counted once). `cells` must carry the spine's
    geography columns and census_urn (int_indicator_cells_located); only the catalogue entries published at
    `level` roll up to it. `kind` (indicators/catalogue.yaml formula) says how the sums make the value
    (indicator_value). -#}
{% macro indicator_rollup(cells, level) -%}
    {%- set code = level_code(level) %}
    select
        time_period,
        time_identifier,
        '{{ level }}' as geographic_level,
        {{ code }} as geography_code,
        {%- if level in ('Local authority', 'Regional') %}
        max(region_code) as region_code,
        max(region_name) as region_name,
        {%- else %}
        cast(null as varchar) as region_code,
        cast(null as varchar) as region_name,
        {%- endif %}
        {%- if level == 'Local authority' %}
        max(old_la_code) as old_la_code,
        max(new_la_code) as new_la_code,
        max(la_name) as la_name,
        {%- else %}
        cast(null as varchar) as old_la_code,
        cast(null as varchar) as new_la_code,
        cast(null as varchar) as la_name,
        {%- endif %}
        {%- if level == 'MAT' %}
        max(trust_id) as trust_id,
        max(trust_name) as trust_name,
        {%- else %}
        cast(null as varchar) as trust_id,
        cast(null as varchar) as trust_name,
        {%- endif %}
        cast(null as varchar) as school_urn,
        cast(null as varchar) as school_laestab,
        cast(null as varchar) as school_name,
        cast(null as varchar) as phase,
        source,
        indicator,
        breakdown,
        breakdown_value,
        any_value(kind) as kind,
        any_value(scale) as scale,
        -- when no school entered: the status every school cell shares (all suppressed, all not available)
        case when min(value_status) = max(value_status) then min(value_status) end as cell_status,
        {%- for part in ['num', 'den', 'num_sq', 'num2', 'den2', 'num2_sq'] %}
        {{ exact_sum(part, 'included') }} as {{ part }},
        {%- endfor %}
        sum(respondents) filter (where included) as respondents,
        -- the schools that entered, before counting a school entered under two URNs once (indicator_twins)
        cast(count(*) filter (where included) as integer) as school_rows
    from {{ cells }}
    where {{ code }} is not null and catalogue_id in {{ sql_list(catalogue_ids_at_level(level)) }}
    group by time_period, time_identifier, {{ code }}, source, indicator, breakdown, breakdown_value
{%- endmacro %}

{#- A school converting during the year can enter a cell under both URNs: it is one school (census_urn).
    `schools_included` = school_rows - extra, where `extra` counts the rows beyond the first of each census URN
    in a cell at `level`. Exactly count(distinct coalesce(census_urn, urn)) over the included rows: two rows
    of a cell can share that key only when one of them has census_urn <> urn, so only the rows whose key is
    such a census URN (`twins`, a few per conversion) need counting distinct, not a national mart's worth. -#}
{% macro indicator_twins(twins, level) -%}
    {%- set code = level_code(level) %}
    select
        time_period,
        time_identifier,
        '{{ level }}' as geographic_level,
        {{ code }} as geography_code,
        source,
        indicator,
        breakdown,
        breakdown_value,
        count(*) - count(distinct coalesce(census_urn, urn)) as extra
    from {{ twins }}
    where {{ code }} is not null and catalogue_id in {{ sql_list(catalogue_ids_at_level(level)) }}
    group by time_period, time_identifier, {{ code }}, source, indicator, breakdown, breakdown_value
{%- endmacro %}

{#- Schools at each geography and year in the spine (the `schools_total` of every row at that level): a school
    open under two URNs in the year it converted counts once, as the URN the census counted (census_urn). -#}
{% macro schools_at_level(spine, level) -%}
    select
        time_period,
        '{{ level }}' as geographic_level,
        {{ level_code(level) }} as geography_code,
        cast(count(distinct coalesce(census_urn, urn)) as integer) as schools_total
    from {{ spine }}
    where {{ level_code(level) }} is not null
    group by time_period, {{ level_code(level) }}
{%- endmacro %}

{#- value, ci_lower, ci_upper from the summed parts. ratio: num / den * scale; sum: num; mean: num / den with a
    95% CI from the respondent-level SD (sum of squares); gap: mean(group 1) - mean(group 2), CI from both
    groups' variances. A zero denominator gives no value. -#}
{% macro indicator_value(kind, scale, num, den, num_sq, num2, den2, num2_sq) -%}
    case {{ kind }}
        when 'sum' then {{ num }}
        when 'ratio' then {{ num }} / nullif({{ den }}, 0) * {{ scale }}
        when 'mean' then {{ num }} / nullif({{ den }}, 0)
        when 'gap' then {{ num }} / nullif({{ den }}, 0) - {{ num2 }} / nullif({{ den2 }}, 0)
    end
{%- endmacro %}

{% macro sample_variance(s, ss, n) -%}
    greatest(({{ ss }} - {{ s }} * {{ s }} / {{ n }}) / ({{ n }} - 1), 0)
{%- endmacro %}

{% macro indicator_ci_half_width(kind, num, den, num_sq, num2, den2, num2_sq) -%}
    case
        when {{ kind }} = 'mean' and {{ den }} >= 2
            then 1.96 * sqrt({{ sample_variance(num, num_sq, den) }} / {{ den }})
        when {{ kind }} = 'gap' and {{ den }} >= 2 and {{ den2 }} >= 2
            then 1.96 * sqrt(
                {{ sample_variance(num, num_sq, den) }} / {{ den }}
                + {{ sample_variance(num2, num2_sq, den2) }} / {{ den2 }}
            )
    end
{%- endmacro %}

{#- The geography columns of a row the DfE publishes for a Local authority, a Region or England (in-year
    attendance, exclusions by characteristic): region on LA and Regional rows, LA codes on LA rows, and no
    trust, school or phase (never rolled up from schools), in the column order of int_indicators_aggregated. -#}
{% macro dfe_aggregate_geography() -%}
    case when geographic_level in ('Local authority', 'Regional') then region_code end as region_code,
    case when geographic_level in ('Local authority', 'Regional') then region_name end as region_name,
    case when geographic_level = 'Local authority' then old_la_code end as old_la_code,
    case when geographic_level = 'Local authority' then new_la_code end as new_la_code,
    case when geographic_level = 'Local authority' then la_name end as la_name,
    cast(null as varchar) as trust_id,
    cast(null as varchar) as trust_name,
    cast(null as varchar) as school_urn,
    cast(null as varchar) as school_laestab,
    cast(null as varchar) as school_name,
    cast(null as varchar) as phase
{%- endmacro %}
