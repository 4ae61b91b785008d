with source as (
    select * from {{ source('surveys', 'survey_answers') }}
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
    from source
)

-- answers of a response repeated by cumulative exports: the first loaded copy, like the response
select *
from renamed
qualify row_number() over (partition by response_key, item_id order by loaded_at, source_sha256) = 1
