-- Each school-year of the spine followed back over the spans the catalogue's cohort indicators look across
-- (`years`: roll stability Year 10 -> 11 looks one year back, Year 7 -> 11 four): the same school that many
-- academic years earlier, through GIAS predecessor links (an academy conversion gives the school a new URN:
-- int_school_links_resolved), under the URN its census figures were counted then (int_school_years_spined
-- .census_urn). And why its cohort ratio compares unlike with like (`flagged`): the school opened, closed,
-- merged or changed its age range in the window. A flagged school's ratio is shown as a signal but not ranked,
-- and left out of the sums above school level (macros/indicators/admin_formulas.sql, formula `cohort`).
{%- set spans = cohort_spans() %}
with recursive
spine as (
    select * from {{ ref('int_school_years_spined') }}
),

years as (
    select * from {{ ref('int_academic_years_listed') }}
),

links as (
    select * from {{ ref('int_school_links_resolved') }}
),

spans as (
    {%- if spans %}
    select unnest([{{ spans | join(', ') }}]) as years
    {%- else %}
    select cast(null as integer) as years where false
    {%- endif %}
),

-- each URN and its predecessors, nearest first (a chain of conversions, at most five steps back)
lineage as (
    select
        urn,
        urn as ancestor_urn,
        0 as steps
    from (select distinct urn from spine)
    union all
    select
        lineage.urn,
        links.predecessor_urn as ancestor_urn,
        lineage.steps + 1 as steps
    from lineage
    inner join links on lineage.ancestor_urn = links.urn
    where lineage.steps < 5
),

targets as (
    select
        spine.time_period,
        spine.urn,
        spans.years,
        spine.time_period - 101 * spans.years as earlier_time_period,
        spine.phase,
        spine.close_date
    from spine
    cross join spans
),

-- the nearest of the school's URNs that the spine lists `years` earlier, and the URN the census counted then
found as (
    select
        targets.time_period,
        targets.urn,
        targets.years,
        earlier.urn as lineage_urn,
        earlier.census_urn as earlier_urn,
        earlier.phase as earlier_phase,
        earlier.open_date as earlier_open_date,
        lineage.steps
    from targets
    inner join lineage on targets.urn = lineage.urn
    inner join spine as earlier
        on targets.earlier_time_period = earlier.time_period and lineage.ancestor_urn = earlier.urn
    qualify row_number() over (
        partition by targets.time_period, targets.urn, targets.years order by lineage.steps, earlier.urn
    ) = 1
),

-- the youngest and oldest national-curriculum year with pupils on roll, by school and year (census)
year_groups as (
    select
        time_period,
        urn,
        least(
            {%- for n in range(1, 14) %}
            case when census__pupils_year_{{ n }} > 0 then {{ n }} end{{ ',' if not loop.last }}
            {%- endfor %}
        ) as youngest_year,
        greatest(
            {%- for n in range(1, 14) %}
            case when census__pupils_year_{{ n }} > 0 then {{ n }} end{{ ',' if not loop.last }}
            {%- endfor %}
        ) as oldest_year
    from {{ ref('int_admin_inputs_pivoted') }}
),

-- a merger or amalgamation into the school (or into one of its URNs followed back) during the window
merged as (
    select
        targets.time_period,
        targets.urn,
        targets.years
    from targets
    inner join years as first_year on targets.earlier_time_period = first_year.time_period
    inner join years as last_year on targets.time_period = last_year.time_period
    inner join lineage on targets.urn = lineage.urn
    inner join links on lineage.ancestor_urn = links.urn
    left join found
        on targets.time_period = found.time_period and targets.urn = found.urn and targets.years = found.years
    where
        links.merged
        and lineage.steps <= coalesce(found.steps, 5)
        and coalesce(links.merged_date between first_year.year_start and last_year.year_end, true)
    group by targets.time_period, targets.urn, targets.years
),

flags as (
    select
        targets.time_period,
        targets.urn,
        targets.years,
        targets.earlier_time_period,
        found.earlier_urn,
        -- not there `years` earlier, or new then (opened during the first year, not as a conversion)
        found.urn is null
        or coalesce(
            found.earlier_open_date >= first_year.year_start
            and found.lineage_urn not in (select links.urn from links),
            false
        ) as opened_in_window,
        -- closing by the end of the last year, not as a conversion (a successor carries the school on)
        coalesce(
            targets.close_date <= last_year.year_end
            and targets.urn not in (select links.predecessor_urn from links),
            false
        ) as closed_in_window,
        merged.urn is not null as merged_in_window,
        coalesce(
            targets.phase is distinct from found.earlier_phase
            or now_groups.youngest_year <> then_groups.youngest_year
            or now_groups.oldest_year <> then_groups.oldest_year,
            false
        ) and found.urn is not null as age_range_changed
    from targets
    left join found
        on targets.time_period = found.time_period and targets.urn = found.urn and targets.years = found.years
    left join years as first_year on targets.earlier_time_period = first_year.time_period
    left join years as last_year on targets.time_period = last_year.time_period
    left join merged
        on targets.time_period = merged.time_period and targets.urn = merged.urn and targets.years = merged.years
    left join year_groups as now_groups
        on targets.time_period = now_groups.time_period and targets.urn = now_groups.urn
    left join year_groups as then_groups
        on targets.earlier_time_period = then_groups.time_period and found.earlier_urn = then_groups.urn
)

select
    *,
    opened_in_window or closed_in_window or merged_in_window or age_range_changed as flagged
from flags
