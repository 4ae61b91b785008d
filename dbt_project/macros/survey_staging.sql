{#- The survey responses and answers as staged (stg_surveys__responses, stg_surveys__answers): cumulative exports
    repeat a response, which counts once, as first loaded. `where`: a condition on response_key, applied to the lake's
    rows before the first loaded copy is chosen (each key's copies are all kept or all left out, so the result is the
    staged rows of those keys): an incremental build reads the rows of a few responses without deduplicating every
    lake file (macros/survey_changes.sql). -#}

{% macro survey_responses_first_loaded(where=none) -%}
    {{ survey_first_loaded('survey_responses', [
        'response_key', 'respondent_key', 'instrument', 'tool', 'wave', 'cast(time_period as integer) as time_period',
        'term', 'cast(response_date as date) as response_date', 'reported_urn', 'school_urn', 'year_group', 'gender',
        'send', 'fsm', 'role', 'cast(items_answered as integer) as items_answered',
        'cast(items_total as integer) as items_total', 'row_number'],
        'response_key', 'loaded_at, source_sha256, row_number', where) }}
{%- endmacro %}

{#- answers of a response repeated by cumulative exports: the first loaded copy, like the response -#}
{% macro survey_answers_first_loaded(where=none) -%}
    {{ survey_first_loaded('survey_answers', [
        'response_key', 'instrument', 'item_id', 'cast(answer_code as integer) as answer_code',
        'cast(score as double) as score', 'agree'],
        'response_key, item_id', 'loaded_at, source_sha256', where) }}
{%- endmacro %}

{#- The rows of the lake table `table` (source `surveys`) meeting `where`, as `columns` and where they came from, one
    per `key`: the first in `order` -#}
{% macro survey_first_loaded(table, columns, key, order, where) -%}
with lake_rows as (
    select * from {{ source('surveys', table) }}
    {%- if where %}
    where {{ where }}
    {%- endif %}
),

renamed as (
    select
        {{ columns | join(',\n        ') }},
        _source_file as source_file,
        _source_sha256 as source_sha256,
        _loaded_at as loaded_at
    from lake_rows
)

select *
from renamed
qualify row_number() over (partition by {{ key }} order by {{ order }}) = 1
{%- endmacro %}
