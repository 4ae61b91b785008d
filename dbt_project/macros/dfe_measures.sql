{#- The count measures of each EES publication as staged (ingestion/lake_schema.py DFE_MEASURES), with the
    staging model that holds them. Published rates are not summed: indicators are recomputed from counts. -#}
{% macro dfe_publications() -%}
    {%- set census = ['headcount', 'fsm_eligible', 'fsm_base', 'eal'] -%}
    {%- for n in range(1, 14) -%}{%- do census.append('pupils_year_' ~ n) -%}{%- endfor -%}
    {{ return({
        'exclusions': {'model': 'stg_dfe__exclusions', 'measures': ['headcount', 'perm_excl', 'suspension', 'one_plus_susp']},
        'absence': {'model': 'stg_dfe__absences', 'measures': ['enrolments', 'sess_possible', 'sess_overall', 'sess_authorised', 'sess_unauthorised', 'enrolments_pa_10', 'enrolments_pa_50']},
        'census': {'model': 'stg_dfe__census_rows', 'measures': census},
        'sen': {'model': 'stg_dfe__sen_rows', 'measures': ['total_pupils', 'sen_support', 'ehc_plan']},
    }) }}
{%- endmacro %}
