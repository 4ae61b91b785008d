-- For each school and year: its national percentile within its comparison group (its GIAS phase; special
-- schools a group of their own, by design: GIAS gives most of them the phase "Not applicable") on suspension
-- rate, persistent absence, SEND and FSM representation and pupil belonging, so that schools that include and
-- where pupils feel they belong can be listed without a home-made composite score. A belonging score from
-- fewer respondents than the disclosure threshold is shown but not ranked (`belonging_reliability`).
-- Roll stability (the headline, Year 10 -> Year 11) is a signal, not a verdict: beside it England's figure of
-- the year, and a school flagged in the window (opened, closed, merged, changed its age range: value_status
-- `low_reliability`, int_school_cohorts_followed) is shown but not ranked (`roll_stability_reliability`).
{%- set roll_stability = 'roll_stability_y10_y11_percent' %}
with spine as (
    select * from {{ ref('int_school_years_spined') }}
),

years as (
    select * from {{ ref('int_academic_years_listed') }}
),

admin as (
    select
        time_period,
        geography_code as urn,
    {%- for i in ['suspension_rate', 'persistent_absence_percent', 'send_representation_ratio', 'fsm_representation_ratio'] %}
        max(value) filter (where indicator = '{{ i }}') as {{ i }},
    {%- endfor %}
        max(value) filter (where indicator = '{{ roll_stability }}') as {{ roll_stability }},
        max(value_status) filter (where indicator = '{{ roll_stability }}') as roll_stability_status
    from {{ ref('int_indicators_aggregated') }}
    where geographic_level = 'School' and source = 'admin' and breakdown = 'Total'
    group by time_period, geography_code
),

-- what is normal: England's roll stability that year (a ratio of sums, flagged schools left out)
england as (
    select time_period, value as {{ roll_stability }}_national
    from {{ ref('int_indicators_aggregated') }}
    where geographic_level = 'National' and source = 'admin' and breakdown = 'Total'
        and indicator = '{{ roll_stability }}'
),

-- pupil belonging over the whole academic year (every wave of the year pooled, each response once)
belonging as (
    select
        time_period,
        urn,
        -- an exact decimal sum: the same mean whatever order the responses come in
        cast(sum(cast(scale_score as decimal(18, 12))) / count(*) as double) as belonging_score_mean,
        count(*) as belonging_respondents
    from {{ ref('int_survey_responses_scored') }}
    where included and instrument = 'pupil_belonging'
    group by time_period, urn
),

profile as (
    select
        spine.time_period,
        spine.urn,
        spine.laestab,
        spine.school_name,
        spine.phase,
        case
            when spine.establishment_type_group = 'Special schools' or spine.type_of_establishment ilike '%special%'
                then 'Special'
            when spine.phase is null or spine.phase = 'Not applicable' then 'No phase given'
            else spine.phase
        end as comparison_group,
        spine.trust_id,
        spine.new_la_code,
        spine.region_code,
        admin.suspension_rate,
        admin.persistent_absence_percent,
        admin.send_representation_ratio,
        admin.fsm_representation_ratio,
        admin.{{ roll_stability }},
        admin.roll_stability_status,
        england.{{ roll_stability }}_national,
        belonging.belonging_score_mean,
        belonging.belonging_respondents,
        belonging.belonging_respondents < {{ var('min_respondents') }} as belonging_low_reliability
    from spine
    left join admin on spine.time_period = admin.time_period and spine.urn = admin.urn
    left join belonging on spine.time_period = belonging.time_period and spine.urn = belonging.urn
    left join england on spine.time_period = england.time_period
)

select
    cast(profile.time_period as integer) as time_period,
    years.academic_year,
    profile.urn as school_urn,
    profile.laestab as school_laestab,
    profile.school_name,
    profile.phase,
    profile.comparison_group,
    profile.trust_id,
    profile.new_la_code,
    profile.region_code,
    {#- a figure flagged low_reliability is shown but never ranked -#}
    {%- set reliable = {
        'belonging_score_mean': ' and not profile.belonging_low_reliability',
        roll_stability: " and profile.roll_stability_status = 'value'",
    } %}
    {%- for i in ['suspension_rate', 'persistent_absence_percent', 'send_representation_ratio', 'fsm_representation_ratio', 'belonging_score_mean', roll_stability] %}
    {%- set ranked = 'profile.' ~ i ~ ' is not null' ~ reliable.get(i, '') %}
        cast(profile.{{ i }} as double) as {{ i }},
        cast(case when {{ ranked }} then 100 * percent_rank() over (
            partition by profile.time_period, profile.comparison_group, {{ ranked }} order by profile.{{ i }}
        ) end as double) as {{ i }}_percentile,
    {%- endfor %}
    cast(profile.belonging_respondents as bigint) as belonging_respondents,
    case
        when profile.belonging_respondents is null then null
        when profile.belonging_low_reliability then 'low_reliability'
        else 'value'
    end as belonging_reliability,
    cast(profile.{{ roll_stability }}_national as double) as {{ roll_stability }}_national,
    case
        when profile.{{ roll_stability }} is null then null
        when profile.roll_stability_status = 'value' then 'value'
        else 'low_reliability'
    end as roll_stability_reliability
from profile
left join years on profile.time_period = years.time_period
