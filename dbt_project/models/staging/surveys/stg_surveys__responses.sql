with source as (
    select * from {{ source('surveys', 'survey_responses') }}
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
    from source
)

-- cumulative exports repeat a response: it counts once, as first loaded
select *
from renamed
qualify row_number() over (partition by response_key order by loaded_at, source_sha256, row_number) = 1
