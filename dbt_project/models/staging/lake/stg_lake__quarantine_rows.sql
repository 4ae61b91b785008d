with source as (
    select * from {{ source('lake', 'quarantine') }}
)

select
    _source_sha256 as source_sha256,
    _source_file as source_file,
    _loaded_at as loaded_at,
    row_number,
    "column" as column_name,
    value,
    rule,
    reason
from source
