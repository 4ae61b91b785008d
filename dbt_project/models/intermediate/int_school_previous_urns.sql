-- The URN a school's figures were published under in the previous year (mart_indicators' previous_value of a
-- School row; int_survey_changes_located: the rows a changed school's figures feed a year later): the URN the
-- census counted there (census_urn) of the school itself if it was open then, else of its predecessor. A school
-- converting after census day is open under its new URN that year, but the year's figures are its predecessor's.
with spine as (
    select
        time_period,
        urn,
        coalesce(census_urn, urn) as census_urn
    from {{ ref('int_school_years_spined') }}
),

links as (
    select * from {{ ref('int_school_links_resolved') }}
)

select
    spine.time_period,
    spine.urn,
    case
        when own.urn is not null then own.census_urn
        when pred.urn is not null then pred.census_urn
        else spine.urn
    end as previous_urn
from spine
left join links on spine.urn = links.urn
left join spine as own on own.time_period = spine.time_period - 101 and spine.urn = own.urn
left join spine as pred on pred.time_period = spine.time_period - 101 and links.predecessor_urn = pred.urn
