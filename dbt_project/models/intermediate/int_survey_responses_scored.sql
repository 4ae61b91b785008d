-- One row per (deduplicated) survey response with its scale score: the mean of its answered item scores
-- (0-100) when it answered at least the instrument's min_items_answered, else it is excluded from the scale
-- (`excluded_reason` says why) and counted, not silently lost.
with responses as (
    select * from {{ ref('stg_surveys__responses') }}
),

answers as (
    select * from {{ ref('stg_surveys__answers') }}
),

rules as (
    select
        instrument,
        max(min_items_answered) as min_items_answered,
        max(items_total) as items_total
    from {{ ref('stg_surveys__items') }}
    group by instrument
),

scores as (
    select
        response_key,
        avg(score) as scale_score,
        count(score) as items_scored
    from answers
    where score is not null
    group by response_key
)

select
    responses.response_key,
    responses.instrument,
    responses.wave,
    responses.time_period,
    case
        when responses.term is null then 'Academic year'
        else upper(left(responses.term, 1)) || lower(substr(responses.term, 2)) || ' term'
    end as time_identifier,
    responses.school_urn as urn,
    responses.year_group,
    responses.gender,
    responses.send,
    responses.fsm,
    responses.role,
    responses.items_answered,
    rules.min_items_answered,
    scores.scale_score as raw_scale_score,
    case
        when responses.school_urn is null then 'no_school'
        when rules.min_items_answered is null then 'unknown_instrument'
        when coalesce(responses.items_answered, 0) < rules.min_items_answered then 'too_few_items'
        when scores.scale_score is null then 'no_scored_items'
    end as excluded_reason,
    case when excluded_reason is null then scores.scale_score end as scale_score,
    excluded_reason is null as included
from responses
left join rules on responses.instrument = rules.instrument
left join scores on responses.response_key = scores.response_key
