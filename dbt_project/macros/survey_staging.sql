{#- The survey responses and answers as staged (stg_surveys__responses, stg_surveys__answers): cumulative exports
    repeat a response, which counts once, as first loaded. `where`: a condition on response_key, applied to the lake's
    rows before the first loaded copy is chosen (each key's copies are all kept or all left out, so the result is the
    staged rows of those keys): an incremental build reads the rows of a few responses without deduplicating every
    lake file (macros/survey_changes.sql). -#}

{% macro survey_responses_first_loaded(where=none) -%}
with lake_rows as (
    select * from {{ source('surveys', 'survey_responses') }}
    {%- if where %}
    where {{ where }}
    {%- endif %}
),

renamed as (
    select
        response_key,
        respondent_key,
        instrument,
        tool,
        wave,
        cast(time_period as integer) as time_period,
        term,
        cast(response_date as date) as response_date,
        reported_urn,
        school_urn,
        year_group,
        gender,
        send,
        fsm,
        role,
        cast(items_answered as integer) as items_answered,
        cast(items_total as integer) as items_total,
        row_number,
        _source_file as source_file,
        _source_sha256 as source_sha256,
        _loaded_at as loaded_at
    from lake_rows
)

-- cumulative exports repeat a response: it counts once, as first loaded
select *
from renamed
qualify row_number() over (partition by response_key order by loaded_at, source_sha256, row_number) = 1
{%- endmacro %}

{% macro survey_answers_first_loaded(where=none) -%}
with lake_rows as (
    select * from {{ source('surveys', 'survey_answers') }}
    {%- if where %}
    where {{ where }}
    {%- endif %}
),

renamed as (
    select
        response_key,
        instrument,
        item_id,
        cast(answer_code as integer) as answer_code,
        cast(score as double) as score,
        agree,
        _source_file as source_file,
        _source_sha256 as source_sha256,
        _loaded_at as loaded_at
    from lake_rows
)

-- answers of a response repeated by cumulative exports: the first loaded copy, like the response
select *
from renamed
qualify row_number() over (partition by response_key, item_id order by loaded_at, source_sha256) = 1
{%- endmacro %}
