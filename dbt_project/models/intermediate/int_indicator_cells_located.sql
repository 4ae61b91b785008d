-- A view: read by int_indicators_aggregated alone, each of its roll-ups with its own filters and columns; as a
-- table it was a national mart's worth of rows written only to be read back (about 20 s).
{{ config(materialized='view') }}
-- Every school-level indicator cell (admin and survey), placed in that year's geography from the spine:
-- trust of that year, LA, region.
with cells as (
    select * from {{ ref('int_admin_cells_computed') }}
    union all by name
    select * from {{ ref('int_survey_cells_computed') }}
),

spine as (
    select * from {{ ref('int_school_years_spined') }}
)

select
    cells.*,
    spine.laestab,
    spine.school_name,
    spine.phase,
    spine.trust_id,
    spine.trust_name,
    spine.old_la_code,
    spine.new_la_code,
    spine.la_name,
    spine.region_code,
    spine.region_name,
    spine.census_urn
from cells
left join spine on cells.time_period = spine.time_period and cells.urn = spine.urn
