with source as (
    select * from {{ source('surveys', 'survey_items') }}
),

renamed as (
    select
        instrument,
        item_id,
        item_text,
        negative,
        cast(scale_points as integer) as scale_points,
        cast(min_items_answered as integer) as min_items_answered,
        cast(items_total as integer) as items_total,
        _source_file as source_file,
        _source_sha256 as source_sha256,
        _loaded_at as loaded_at
    from source
)

-- written on every load: the latest configuration wins
select *
from renamed
qualify row_number() over (partition by instrument, item_id order by loaded_at desc, source_sha256 desc) = 1
