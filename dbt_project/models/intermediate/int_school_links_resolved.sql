-- One predecessor per URN (academy conversion and other re-registrations), from either side of a GIAS link:
-- "B has predecessor A" or "A has successor B". Series by school follow these links. `merged`: the URN took in
-- a school by a merger or amalgamation (a `- merged` / `- amalgamated` link, or more than one predecessor), the
-- latest such link on `merged_date` (roll stability flags such a school: its cohorts are not the same pupils).
with links as (
    select * from {{ ref('stg_gias__links') }}
),

pairs as (
    select
        urn,
        link_urn as predecessor_urn,
        link_established_date,
        link_type
    from links
    where link_type ilike 'predecessor%'
    union all
    select
        link_urn as urn,
        urn as predecessor_urn,
        link_established_date,
        link_type
    from links
    where link_type ilike 'successor%'
),

joined as (
    select
        *,
        link_type ilike '%merged%' or link_type ilike '%amalgamated%'
        or count(distinct predecessor_urn) over (partition by urn) > 1 as merging
    from pairs
    where urn <> predecessor_urn
)

select
    urn,
    predecessor_urn,
    link_established_date,
    bool_or(merging) over (partition by urn) as merged,
    max(case when merging then link_established_date end) over (partition by urn) as merged_date
from joined
qualify row_number() over (
    partition by urn order by link_established_date desc nulls last, predecessor_urn asc
) = 1
