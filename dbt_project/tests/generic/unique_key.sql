{#- Primary-key test for a composite key: no two rows share the columns' values (nulls compared as equal).
    `changes` (an incremental model: ref('int_survey_changes_located'), macros/survey_changes.sql): in an incremental
    build (macro new_survey_files) only the rows of the (time_period, time_identifier, geography) it rebuilt are
    tested - the rest was tested when it was built, and a duplicate of a rebuilt row has the same time and geography
    (in the key). The geography: `school_column` (a table of School rows), else geographic_level and geography_code. -#}
{% test unique_key(model, columns, changes=none, school_column=none) %}
{%- set rows = model -%}
{%- if changes is not none and new_survey_files() -%}
    {%- if school_column -%}
        {%- set rows -%}
            (select * from {{ model }} where (time_period, time_identifier, {{ school_column }}) in (
                select time_period, time_identifier, geography_code from {{ changes }}
                where geographic_level = 'School'))
        {%- endset -%}
    {%- else -%}
        {%- set rows -%}
            (select * from {{ model }} where (time_period, time_identifier, geographic_level, geography_code) in (
                select time_period, time_identifier, geographic_level, geography_code from {{ changes }}))
        {%- endset -%}
    {%- endif -%}
{%- endif %}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ rows }} as tested
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
