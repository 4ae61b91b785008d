with source as (
    select * from {{ source('lake', 'file_loads') }}
)

select
    _source_sha256 as source_sha256,
    _source_file as source_file,
    _loaded_at as loaded_at,
    source_kind,
    publication,
    vintage,
    encoding,
    rows_read,
    rows_loaded,
    rows_quarantined,
    rows_excluded,
    exclusions,
    status,
    message
from source
