{#- A wide convenience view of mart_indicators for one geographic level: one row per year and geography,
    each Total admin indicator of the catalogue as a column with its GSS symbol beside it
    (`<indicator>_symbol`), and each instrument's scale mean (`<instrument>_score_mean`) of the year's latest
    wave. -#}
{% macro indicators_wide(level, geography_columns) -%}
{%- set admin = catalogue('admin', level=level) %}
with mart as (
    select * from {{ ref('mart_indicators') }}
    where geographic_level = '{{ level }}' and breakdown = 'Total'
),

admin as (
    select
        time_period,
        geography_code,
        {%- for c in geography_columns %}
        max({{ c }}) as {{ c }},
        {%- endfor %}
        {%- for d in admin %}
        max(value) filter (where indicator = '{{ d["id"] }}') as {{ d['id'] }},
        max({{ gss_symbol('value_status') }}) filter (where indicator = '{{ d["id"] }}')
            as {{ d['id'] }}_symbol,
        {%- endfor %}
        max(schools_total) as schools_total
    from mart
    where source = 'admin'
    group by time_period, geography_code
),

survey as (
    select
        time_period,
        geography_code,
        {%- set means = catalogue('survey', formula='scale_mean') %}
        {%- for e in means %}
        {%- set s, ind = e['source'], e['id'] %}
        arg_max(value, {{ wave_order('time_identifier') }})
            filter (where source = '{{ s }}' and indicator = '{{ ind }}') as {{ s }}_score_mean,
        arg_max(respondents, {{ wave_order('time_identifier') }})
            filter (where source = '{{ s }}' and indicator = '{{ ind }}') as {{ s }}_respondents{{ ',' if not loop.last }}
        {%- endfor %}
    from mart
    where source <> 'admin'
    group by time_period, geography_code
)

select
    coalesce(admin.time_period, survey.time_period) as time_period,
    coalesce(admin.geography_code, survey.geography_code) as geography_code,
    admin.* exclude (time_period, geography_code),
    survey.* exclude (time_period, geography_code)
from admin
full outer join survey using (time_period, geography_code)
{%- endmacro %}

{% macro wave_order(time_identifier) -%}
    case {{ time_identifier }}
        when 'Autumn term' then 1 when 'Spring term' then 2 when 'Summer term' then 3 else 4
    end
{%- endmacro %}
