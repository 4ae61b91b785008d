{#- The indicator catalogue (indicators/catalogue.yaml) as dbt sees it: the `indicators` var, passed by every
    dbt invocation (orchestration/dbt.py dbt_vars). Each entry: its catalogue fields (id, family, source,
    definition, formula, numerator, denominator, scale, breakdowns, levels, ...) plus `kind` (how the value is
    made of the summed parts) and, for admin entries, `num_columns` / `den_column` (the columns of
    int_admin_inputs_pivoted, `<publication>__<measure>`). -#}
{% macro catalogue(family=none, formula=none, source=none, level=none) -%}
    {%- set out = [] -%}
    {%- for e in var('indicators') -%}
        {%- if (family is none or e['family'] == family or (family == 'survey' and e['family'] in ('pupil_survey', 'staff_survey')))
            and (formula is none or e['formula'] == formula)
            and (source is none or e['source'] == source)
            and (level is none or level in e['levels']) -%}
            {%- do out.append(e) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{#- The survey instruments that have indicators in the catalogue. -#}
{% macro catalogue_sources() -%}
    {%- set out = [] -%}
    {%- for e in catalogue('survey') if e['source'] not in out -%}{%- do out.append(e['source']) -%}{%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{#- A quoted SQL list of strings. -#}
{% macro sql_list(values) -%}
    ({%- for v in values %}'{{ v }}'{{ ', ' if not loop.last }}{% endfor -%})
{%- endmacro %}

{#- The warehouse name of an entry's cell: its id, a pattern's `{item}` filled from the `item_id` column and
    `{answer}` from `negative` (a negatively worded item counts `disagree`). -#}
{% macro indicator_name(e) -%}
    {%- if '{item}' in e['id'] -%}
        replace(replace('{{ e["id"] }}', '{item}', item_id), '{answer}', case when negative then 'disagree' else 'agree' end)
    {%- else -%}
        '{{ e["id"] }}'
    {%- endif -%}
{%- endmacro %}

{#- Entries published at `level` whose cells roll up there: a filter on the cells' `catalogue_id`. -#}
{% macro catalogue_ids_at_level(level) -%}
    {%- set out = [] -%}
    {%- for e in var('indicators') if level in e['levels'] -%}{%- do out.append(e['id']) -%}{%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{#- The DfE counts of each EES publication as staged (ingestion/lake_schema.py DFE_MEASURES less the published
    rates: indicators are recomputed from counts), with the staging model that holds them. -#}
{% macro dfe_publications() -%}
    {%- set models = {'exclusions': 'stg_dfe__exclusions', 'absence': 'stg_dfe__absences',
                      'census': 'stg_dfe__census_rows', 'sen': 'stg_dfe__sen_rows'} -%}
    {%- set out = {} -%}
    {#- only the publications with School rows: in-year attendance is published as the DfE gives it
        (int_attendance_indicators_published) -#}
    {%- for pub, measures in var('dfe_counts').items() if pub in models -%}
        {%- do out.update({pub: {'model': models[pub], 'measures': measures}}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{#- The spans (academic years) the catalogue's cohort indicators look back across, each once, ascending. -#}
{% macro cohort_spans() -%}
    {%- set out = [] -%}
    {%- for e in catalogue('admin', 'cohort') if e['years'] not in out -%}{%- do out.append(e['years']) -%}{%- endfor -%}
    {{ return(out | sort) }}
{%- endmacro %}
