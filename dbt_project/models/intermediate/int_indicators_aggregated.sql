-- Every indicator at the five levels: School rows as computed, MAT / LA / Regional / National rows as ratios
-- of sums over the schools whose inputs are usable (indicator_rollup), with value, CI and status.
-- Incremental by geography (macros/survey_changes.sql): each row sums the cells of its own geography and
-- (time_period, time_identifier, source), so an incremental refresh deletes the rows of the schools the new exports
-- change and of the geographies above them, in those waves, and appends them rebuilt from those geographies' cells;
-- the spine and the admin cells are then unchanged. Anything else rebuilds all (--full-refresh).
-- depends_on: {{ ref('int_survey_changes_located') }}
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail',
          pre_hook="{% if is_incremental() %}delete from {{ this }} where {{ survey_changed_rows() }}{% endif %}") }}
{%- set levels = ['MAT', 'Local authority', 'Regional', 'National'] %}
{%- set changed_periods = "select time_period, time_identifier, source from " ~ ref('int_survey_changes_located')
    ~ " where not year_after" %}

-- not materialized: each of its readers (school rows, twins, the four levels) reads the view with its own filters
-- and columns; a materialised copy of every cell, scanned seven times, spilled (national: 76 s -> 34 s)
with cells as not materialized (
    select * from {{ ref('int_indicator_cells_located') }}
    {%- if is_incremental() %}
    where (time_period, time_identifier, source) in ({{ changed_periods }})
    {%- endif %}
),

spine as (
    select * from {{ ref('int_school_years_spined') }}
    {%- if is_incremental() %}
    where time_period in (select time_period from ({{ changed_periods }}))
    {%- endif %}
),

school_rows as (
    select
        time_period,
        time_identifier,
        'School' as geographic_level,
        urn as geography_code,
        region_code,
        region_name,
        old_la_code,
        new_la_code,
        la_name,
        trust_id,
        trust_name,
        urn as school_urn,
        laestab as school_laestab,
        school_name,
        phase,
        source,
        indicator,
        breakdown,
        breakdown_value,
        kind,
        scale,
        value_status as cell_status,
        num,
        den,
        num_sq,
        num2,
        den2,
        num2_sq,
        respondents,
        cast(case when included then 1 else 0 end as integer) as schools_included,
        cast(1 as integer) as schools_total
    from cells
    where catalogue_id in {{ sql_list(catalogue_ids_at_level('School')) }}
    {%- if is_incremental() %}
    and {{ survey_changed('School', 'urn') }}
    {%- endif %}
),

-- the included rows of the schools entered under two URNs in a year (census_urn), for indicator_twins
twins as (
    select * from cells
    where
        included
        and coalesce(census_urn, urn) in (select census_urn from cells where census_urn <> urn)
),

aggregate_rows as (
    {%- for level in levels %}
        {{ indicator_rollup(changed_cells('cells', level), level) }}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

twin_rows as (
    {%- for level in levels %}
        {{ indicator_twins(changed_cells('twins', level), level) }}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

totals as (
    {%- for level in levels %}
        {{ schools_at_level('spine', level) }}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

all_rows as (
    select * from school_rows
    union all by name
    select
        aggregate_rows.* exclude (school_rows),
        cast(aggregate_rows.school_rows - coalesce(twin_rows.extra, 0) as integer) as schools_included,
        coalesce(totals.schools_total, 0) as schools_total
    from aggregate_rows
    left join
        totals
        on aggregate_rows.time_period = totals.time_period and aggregate_rows.geographic_level = totals.geographic_level and aggregate_rows.geography_code = totals.geography_code
    left join
        twin_rows
        on
            aggregate_rows.time_period = twin_rows.time_period
            and aggregate_rows.time_identifier is not distinct from twin_rows.time_identifier
            and aggregate_rows.geographic_level = twin_rows.geographic_level
            and aggregate_rows.geography_code = twin_rows.geography_code
            and aggregate_rows.source = twin_rows.source
            and aggregate_rows.indicator = twin_rows.indicator
            and aggregate_rows.breakdown is not distinct from twin_rows.breakdown
            and aggregate_rows.breakdown_value is not distinct from twin_rows.breakdown_value
),

valued as (
select
    *,
    {{ indicator_value('kind', 'scale', 'num', 'den', 'num_sq', 'num2', 'den2', 'num2_sq') }} as value,
    {{ indicator_ci_half_width('kind', 'num', 'den', 'num_sq', 'num2', 'den2', 'num2_sq') }} as ci_half
from all_rows
)

select
time_period,
time_identifier,
geographic_level,
geography_code,
region_code,
region_name,
old_la_code,
new_la_code,
la_name,
trust_id,
trust_name,
school_urn,
school_laestab,
school_name,
phase,
source,
indicator,
breakdown,
breakdown_value,
case when kind = 'gap' then null else num end as numerator,
case when kind in ('ratio', 'mean') then den end as denominator,
value,
case
    when geographic_level = 'School' and cell_status <> 'value' then cell_status
    when schools_included = 0 then coalesce(nullif(cell_status, 'value'), 'missing')
    when kind in ('ratio', 'mean') and den = 0 then 'not_applicable'
    when value is null then 'missing'
    -- a survey figure on fewer respondents than the disclosure threshold (a gap: either of its groups) is shown
    -- to analysts but flagged, and left out of percentiles and rankings (disclosure control suppresses it)
    when source <> 'admin' and kind = 'gap' and least(den, den2) < {{ var('min_respondents') }}
        then 'low_reliability'
    when source <> 'admin' and kind <> 'gap' and respondents < {{ var('min_respondents') }}
        then 'low_reliability'
    else 'value'
end as value_status,
value - ci_half as ci_lower,
value + ci_half as ci_upper,
respondents,
schools_included,
schools_total
from valued
