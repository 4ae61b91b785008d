{#- What an incremental refresh rebuilds (orchestration/dbt.py build_plan decides that a refresh is incremental:
    only new survey exports since the last build). THE RULE, in one place (model int_survey_changes_located, which
    these macros read):
    - the responses of the new exports (macro new_survey_files: their survey_responses lake files, read alone) and every
      earlier copy of those responses: the copy that counts (the first loaded) is scored again
      (int_survey_responses_scored);
    - the schools of all those copies, in each copy's wave (time_period, time_identifier, instrument): their school
      cells (int_survey_cells_computed) and their rows (int_indicators_aggregated, mart_indicators);
    - in the same wave, the geographies above each such school in that year's spine (trust, LA, region, England):
      a roll-up row sums the cells of its own geography and wave alone (indicator_rollup), so no other row moves;
    - in the same wave a year later (`year_after`: mart_indicators alone), the same trusts, LAs, regions and England,
      and the schools whose previous_value is a changed school's (int_school_previous_urns): previous_value and
      change read the year before.
    What ranks or compares across schools (mart_inclusion_profile's percentiles) is rebuilt whole; the wide marts
    are views. -#}

{#- the new exports' survey_responses lake files of an incremental build (their paths), from the environment
    (orchestration/dbt.py new_files_env); none in a full build. Read when dbt runs, not when it parses: dbt re-parses
    every file whose parse read a changed variable, a var or an environment variable read in a macro alike (all 199
    files of this project), and the files differ from one build to the next; the parse needs none of them (the
    incremental branches that use them are not parsed either: is_incremental() is false then). -#}
{% macro new_survey_files() -%}
    {%- if execute -%}
    {{ return(fromjson(env_var('BELONGING_NEW_SURVEY_FILES', '[]'))) }}
    {%- endif -%}
    {{ return([]) }}
{%- endmacro %}

{#- the response keys of the new exports: a query of their survey_responses lake files alone (new_survey_files);
    none (a full build): a query of no rows -#}
{% macro new_survey_response_keys() -%}
    {%- set files = new_survey_files() -%}
    {%- if files -%}
    select response_key from read_parquet([
        {%- for f in files %}'{{ f | replace("'", "''") }}'{{ ', ' if not loop.last }}{% endfor -%}
    ], union_by_name = true)
    {%- else -%}
    select cast(null as varchar) as response_key where false
    {%- endif -%}
{%- endmacro %}

{#- the staged responses and answers of the responses `keys` (a query of response keys), read from the rows of those
    keys alone (macros/survey_staging.sql) -#}
{% macro survey_responses_of(keys) -%}
    ({{ survey_responses_first_loaded('response_key in (' ~ keys ~ ')') }})
{%- endmacro %}

{% macro survey_answers_of(keys) -%}
    ({{ survey_answers_first_loaded('response_key in (' ~ keys ~ ')') }})
{%- endmacro %}

{#- a survey response's wave term as a period's time_identifier -#}
{% macro survey_time_identifier(term) -%}
    case
        when {{ term }} is null then 'Academic year'
        else upper(left({{ term }}, 1)) || lower(substr({{ term }}, 2)) || ' term'
    end
{%- endmacro %}

{#- A condition: the row's (time_period, time_identifier, source, `code`) is one an incremental refresh rebuilds at
    `level` (int_survey_changes_located; the year after too when `year_after`); `source`: the column that
    names the instrument. The model names
    int_survey_changes_located in a `-- depends_on:` comment, so that dbt builds it first. -#}
{% macro survey_changed(level, code, source='source', year_after=false) -%}
    (time_period, time_identifier, {{ source }}, {{ code }}) in (
        select time_period, time_identifier, source, geography_code from {{ ref('int_survey_changes_located') }}
        where geographic_level = '{{ level }}'{% if not year_after %} and not year_after{% endif %})
{%- endmacro %}

{#- The same, over every level: the row's own geographic_level and geography_code -#}
{% macro survey_changed_rows(year_after=false) -%}
    (time_period, time_identifier, source, geographic_level, geography_code) in (
        select time_period, time_identifier, source, geographic_level, geography_code
        from {{ ref('int_survey_changes_located') }}{% if not year_after %} where not year_after{% endif %})
{%- endmacro %}

{#- `cells` as a roll-up to `level` reads them: in an incremental refresh, only the cells of the geographies it
    rebuilds at that level -#}
{% macro changed_cells(cells, level) -%}
    {%- if is_incremental() -%}
        (select * from {{ cells }} where {{ survey_changed(level, level_code(level)) }})
    {%- else -%}
        {{ cells }}
    {%- endif -%}
{%- endmacro %}
