-- One row per school and year with every published count it needs, `<publication>__<measure>` and its
-- `_status` (null when the school has no row in that publication's file for that year).
{%- set pubs = dfe_publications() %}
with measures as (
    select * from {{ ref('int_dfe_measures_unpivoted') }}
    where geographic_level = 'School' and urn is not null and time_identifier ilike 'academic year'
)

select
    time_period,
    urn,
    {%- for pub, spec in pubs.items() %}
        {%- for m in spec['measures'] %}
            max(value) filter (where publication = '{{ pub }}' and measure = '{{ m }}') as {{ pub }}__{{ m }},
            max(status) filter (where publication = '{{ pub }}' and measure = '{{ m }}') as {{ pub }}__{{ m }}_status,
        {%- endfor %}
    {%- endfor %}
    max(phase) as dfe_phase
from measures
group by time_period, urn
