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
