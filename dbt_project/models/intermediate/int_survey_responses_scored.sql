-- One row per (deduplicated) survey response with its scale score: the mean of its answered item scores
-- (0-100) when it answered at least the instrument's min_items_answered, else it is excluded from the scale
-- (`excluded_reason` says why) and counted, not silently lost.
-- Exact: each answer's belonging position (0 = least, scale_points - 1 = most belonging; its 0-100 score is
-- position / steps x 100) is an integer, so the score is one division of integer sums (the same double
-- whatever the summation order) and `positive` (above the midpoint 50) is decided on integers:
-- 2 x positions > items x steps. A respondent exactly at the midpoint is not positive. (The items of an
-- instrument share one scale, so the mean of the item scores is 100 x positions / steps summed.)
--
-- Incremental by response (macros/survey_changes.sql): a refresh whose only new inputs are survey exports rescores
-- the responses those exports hold (macro new_survey_files) and every earlier copy of them: each response's row
-- reads only its own answers and the instruments' rules (the instruments are among the definitions a change of
-- which rebuilds all). The responses are deleted first (a filter, not a join with their new copies), then
-- appended. Anything else (new DfE or GIAS files, changed definitions or settings, `belonging refresh
-- --full-rebuild`) rebuilds all.
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail',
          pre_hook="{% if is_incremental() %}delete from {{ this }}
              where response_key in ({{ new_survey_response_keys() }}){% endif %}") }}

with responses as (
    {%- if is_incremental() %}
    -- the staged rows of these responses, read from the lake rows of their keys alone
    select * from {{ survey_responses_of(new_survey_response_keys()) }}
    {%- else %}
    select * from {{ ref('stg_surveys__responses') }}
    {%- endif %}
),

answers as (
    {%- if is_incremental() %}
    select * from {{ survey_answers_of('select response_key from responses') }}
    {%- else %}
    select * from {{ ref('stg_surveys__answers') }}
    {%- endif %}
),

rules as (
    select
        instrument,
        max(min_items_answered) as min_items_answered,
        max(items_total) as items_total
    from {{ ref('stg_surveys__items') }}
    group by instrument
),

steps as (
    -- the answer steps of each item's scale (a 4-point scale has 3)
    select instrument, item_id, scale_points - 1 as steps
    from {{ ref('stg_surveys__items') }}
),

scores as (
    select
        answers.response_key,
        sum(cast(round(answers.score * steps.steps / 100) as bigint)) as positions,
        sum(steps.steps) as steps,
        count(answers.score) as items_scored
    from answers
    inner join steps on answers.instrument = steps.instrument and answers.item_id = steps.item_id
    where answers.score is not null
    group by answers.response_key
)

select
    responses.response_key,
    responses.instrument,
    responses.wave,
    responses.time_period,
    {{ survey_time_identifier('responses.term') }} as time_identifier,
    responses.school_urn as urn,
    responses.year_group,
    responses.gender,
    responses.send,
    responses.fsm,
    responses.role,
    responses.items_answered,
    rules.min_items_answered,
    100.0 * scores.positions / nullif(scores.steps, 0) as raw_scale_score,
    case
        when responses.school_urn is null then 'no_school'
        when rules.min_items_answered is null then 'unknown_instrument'
        when coalesce(responses.items_answered, 0) < rules.min_items_answered then 'too_few_items'
        when raw_scale_score is null then 'no_scored_items'
    end as excluded_reason,
    case when excluded_reason is null then raw_scale_score end as scale_score,
    -- exact: above the midpoint on integers (the mean position over the steps, times two, against one)
    case when excluded_reason is null then 2 * scores.positions > scores.steps end as positive,
    excluded_reason is null as included
from responses
left join rules on responses.instrument = rules.instrument
left join scores on responses.response_key = scores.response_key
