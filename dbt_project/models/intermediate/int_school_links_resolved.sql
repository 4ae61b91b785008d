-- One predecessor per URN (academy conversion and other re-registrations), from either side of a GIAS link:
-- "B has predecessor A" or "A has successor B". Series by school follow these links.
with links as (
    select * from {{ ref('stg_gias__links') }}
),

pairs as (
    select
        urn,
        link_urn as predecessor_urn,
        link_established_date
    from links
    where link_type ilike 'predecessor%'
    union all
    select
        link_urn as urn,
        urn as predecessor_urn,
        link_established_date
    from links
    where link_type ilike 'successor%'
)

select
    urn,
    predecessor_urn,
    link_established_date
from pairs
where urn <> predecessor_urn
qualify row_number() over (
    partition by urn order by link_established_date desc nulls last, predecessor_urn asc
) = 1
