-- Our sums of school rows by local authority, region and nation against the aggregate rows the DfE
-- published in the same publication and year, per phase and count measure. Each school row counts in the LA
-- (and region) its own DfE file gives it for that year, not today's GIAS LA: the DfE summed it there (years
-- before an LA reorganisation, such as Northamptonshire's split in April 2021, reconcile with the old LA).
-- This model states the facts: the shortfall, and how many school cells were suppressed (`c`, or `x` in
-- 2019-era files) and could hide part of it. Whether a row reconciles is the mart gate's to judge
-- (expectations/marts.py with config/settings.yaml gates.reconciliation_tolerance and
-- gates.suppressed_cell_max, the largest count one suppressed cell can hide).
with measures as (
    select * from {{ ref('int_dfe_measures_unpivoted') }}
    where time_identifier ilike 'academic year'
),

spine as (
    select * from {{ ref('int_school_years_spined') }}
),

school_rows as (
    select
        m.publication,
        m.time_period,
        m.time_identifier,
        m.phase,
        m.measure,
        m.value,
        m.status,
        {{ is_usable('m.value', 'm.status') }} as usable,
        -- the LA as the file gives it (keyed as the file's own LA rows are: new code, else `old:<code>`); GIAS
        -- only where the school row names no LA
        coalesce(m.new_la_code, 'old:' || m.old_la_code, spine.new_la_code) as new_la_code,
        case when m.region_code like 'E12%' then m.region_code else spine.region_code end as region_code
    from measures as m
    left join spine on m.time_period = spine.time_period and m.urn = spine.urn
    where m.geographic_level = 'School'
),

school_rows_by_phase as (
    select * from school_rows
    union all
    select * replace ('Total' as phase) from school_rows
    where phase <> 'Total'
),

ours as (
    {%- for level, code in [('Local authority', 'new_la_code'), ('Regional', 'region_code'), ('National', "'E92000001'")] %}
        select
            publication,
            time_period,
            time_identifier,
            '{{ level }}' as geographic_level,
            {{ code }} as geography_code,
            phase,
            measure,
            sum(value) filter (where usable) as ours,
            count(*) as school_cells,
            count(*) filter (where not usable) as school_cells_unpublished,
            count(*) filter (where not usable and status = 'suppressed') as school_cells_suppressed
        from school_rows_by_phase
        where {{ code }} is not null
        group by publication, time_period, time_identifier, {{ code }}, phase, measure
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

-- the DfE's by-characteristic files: their all-pupils (`Total`) rows against the school rows of the
-- exclusions file (`compared_with`), where both exist (disproportionality, issue 15)
characteristic_totals as (
    {%- for m in ['headcount', 'perm_excl', 'suspension', 'one_plus_susp'] %}
    select
        'exclusions_characteristics' as publication,
        'exclusions' as compared_with,
        time_period,
        time_identifier,
        geographic_level,
        geography_key,
        phase,
        '{{ m }}' as measure,
        {{ m }} as value,
        coalesce({{ m }}_status, case when {{ m }} is null then 'missing' else 'value' end) as status
    from {{ ref('stg_dfe__exclusion_characteristics') }}
    where
        breakdown = 'Total' and phase = 'Total' and time_identifier ilike 'academic year'
        -- a measure the file does not have is nothing to compare
        and not ({{ m }} is null and coalesce({{ m }}_status, 'missing') = 'missing')
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

aggregates as (
    select
        publication,
        publication as compared_with,
        time_period,
        time_identifier,
        geographic_level,
        geography_key,
        phase,
        measure,
        value,
        status
    from measures
    union all
    select * from characteristic_totals
),

theirs as (
    select
        publication,
        compared_with,
        time_period,
        time_identifier,
        geographic_level,
        geography_key as geography_code,
        phase,
        measure,
        value as theirs,
        status as theirs_status
    from aggregates
    where (
        geographic_level in ('Local authority', 'National')
        or (geographic_level = 'Regional' and geography_key like 'E12%')
    )
    -- only years for which the publication has school rows (files also carry aggregate-only back years)
    and (compared_with, time_period) in (
        select distinct
            publication,
            time_period
        from measures
        where geographic_level = 'School'
    )
),

-- in-year attendance (no School rows): the nine regions' counts summed against the DfE's National row, per
-- period (each week and the year to date), phase and count; `school_cells` here are the regional rows
attendance as (
    select * from {{ ref('stg_dfe__attendance') }}
    where geographic_level = 'National' or (geographic_level = 'Regional' and region_code like 'E12%')
),

attendance_measures as (
    {%- for m in ['possible_sessions', 'overall_absence'] %}
    select
        'attendance' as publication,
        case when time_identifier like 'Week %' then cast(week_year as integer) else time_period end as time_period,
        time_identifier,
        geographic_level,
        phase,
        '{{ m }}' as measure,
        {{ m }} as value,
        {{ m }}_status as status
    from attendance
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

attendance_joined as (
    select
        n.publication,
        n.publication as compared_with,  -- the regions' sum against the same publication's National row
        n.time_period,
        n.time_identifier,
        n.geographic_level,
        'E92000001' as geography_code,
        n.phase,
        n.measure,
        n.value as theirs,
        n.status as theirs_status,
        coalesce(sum(r.value) filter (where {{ is_usable('r.value', 'r.status') }}), 0) as ours,
        count(r.measure) as school_cells,
        count(r.measure) filter (where not {{ is_usable('r.value', 'r.status') }}) as school_cells_unpublished,
        count(r.measure) filter (where not {{ is_usable('r.value', 'r.status') }} and r.status = 'suppressed')
            as school_cells_suppressed
    from attendance_measures as n
    left join attendance_measures as r
        on r.geographic_level = 'Regional' and n.time_period = r.time_period and n.time_identifier = r.time_identifier
        and n.phase = r.phase and n.measure = r.measure
    where n.geographic_level = 'National'
    group by all
    -- only where the file has regional rows to sum
    having count(r.measure) > 0
),

joined as (
    select
        theirs.*,
        coalesce(ours.ours, 0) as ours,
        coalesce(ours.school_cells, 0) as school_cells,
        coalesce(ours.school_cells_unpublished, 0) as school_cells_unpublished,
        coalesce(ours.school_cells_suppressed, 0) as school_cells_suppressed
    from theirs
    left join
        ours
        on theirs.compared_with = ours.publication and theirs.time_period = ours.time_period and theirs.time_identifier = ours.time_identifier and theirs.geographic_level = ours.geographic_level and theirs.geography_code = ours.geography_code and theirs.phase = ours.phase and theirs.measure = ours.measure
    union all by name
    select * from attendance_joined
)

select
publication,
compared_with,
cast(time_period as integer) as time_period,
time_identifier,
geographic_level,
geography_code,
phase,
measure,
cast(ours as double) as ours,
cast(theirs as double) as theirs,
theirs_status,
cast(ours - theirs as double) as difference,
-- how far our sum falls below theirs (0 when it does not; null when the DfE published no number)
cast(case when theirs is not null then greatest(theirs - ours, 0) end as double) as shortfall,
cast(school_cells as integer) as school_cells,
cast(school_cells_unpublished as integer) as school_cells_unpublished,
cast(school_cells_suppressed as integer) as school_cells_suppressed,
-- the DfE withheld its own aggregate cell (or left it blank where our sum is 0 too): nothing to compare with
theirs is null and (theirs_status in ('suppressed', 'low', 'not_available') or ours = 0) as theirs_withheld
from joined
