{#- The survey waves an incremental refresh rebuilds (var changed_waves, set by orchestration/assets/dbt.py from
    the survey exports loaded since the last build), as a SQL list; none: a list that matches nothing. -#}
{% macro changed_waves() -%}
    {%- set waves = var('changed_waves', []) -%}
    {%- if waves -%}
        {%- for w in waves -%}'{{ w | replace("'", "''") }}'{{ ', ' if not loop.last }}{%- endfor -%}
    {%- else -%}
        null
    {%- endif -%}
{%- endmacro %}

{#- The survey periods an incremental refresh rebuilds, as a query of (time_period, time_identifier, source): those of
    the changed waves (int_survey_responses_scored, already rebuilt), each `years` academic years later when given
    (mart_indicators: a period's previous_value and change read the year before). A model that calls it names
    int_survey_responses_scored in a `-- depends_on:` comment, so that dbt builds it first. -#}
{% macro changed_survey_periods(years=0) -%}
    select distinct time_period + {{ 101 * years }} as time_period, time_identifier, instrument as source
    from {{ ref('int_survey_responses_scored') }}
    where wave in ({{ changed_waves() }})
{%- endmacro %}
