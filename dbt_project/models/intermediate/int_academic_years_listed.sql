-- Every academic year some source speaks of, with the dates that place a school in it and the GIAS snapshot
-- that gives its trust membership.
with periods as (
    select time_period from {{ ref('stg_dfe__exclusions') }}
    union
    select time_period from {{ ref('stg_dfe__absences') }}
    union
    select time_period from {{ ref('stg_dfe__census_rows') }}
    union
    select time_period from {{ ref('stg_dfe__sen_rows') }}
    union
    select time_period from {{ ref('stg_surveys__responses') }}
),

years as (
    select
        time_period,
        cast(time_period // 100 as integer) as first_year
    from periods
    where time_period is not null
),

listed as (
    select
        time_period,
        cast(first_year as varchar) || '/' || right(cast(first_year + 1 as varchar), 2) as academic_year,
        make_date(first_year, 9, 1) as year_start,
        make_date(first_year + 1, 8, 31) as year_end,
        -- the January census of the year's second calendar year (third Thursday: about the 15th-21st)
        make_date(first_year + 1, 1, 18) as census_date,
        time_period - 101 as previous_time_period
    from years
),

snapshots as (
    select distinct snapshot_date from {{ ref('stg_gias__establishments') }}
)

-- the year's GIAS snapshot: of those taken during the academic year, the one nearest its January census;
-- null when none was (the year's trust membership is then unknown)
select
    listed.*,
    snapshots.snapshot_date as gias_snapshot_date
from listed
left join snapshots on snapshots.snapshot_date between listed.year_start and listed.year_end
qualify row_number() over (
    partition by listed.time_period
    order by abs(date_diff('day', snapshots.snapshot_date, listed.census_date)) nulls last, snapshots.snapshot_date desc
) = 1
