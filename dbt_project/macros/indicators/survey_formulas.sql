{#- The survey formulas of the catalogue (indicators/catalogue.yaml `formula`), each the SQL of one indicator's
    school cells per wave and breakdown, over the CTEs of int_survey_cells_computed:
      respondents     responses counted in the scale (num)
      scale_mean      sum of scale scores / respondents, with the sum of squares behind its CI
      positive_share  respondents scoring above 50 / respondents x scale
      item_agree      agree or strongly agree / answering the item x scale, one cell per item (`{item}`)
      response_rate   respondents / pupils on roll in the surveyed year groups x scale, per year group and
                      as their Total (int_survey_cells_computed roll_cells); a cell without a roll
                      (staff: no invited count in the lake) is not available
      gap             mean of the `gap_of` breakdown's `No` group minus its `Yes` group, each group's sums
                      kept (num/den/num_sq, num2/den2/num2_sq) for the pooled gap and its CI
    Every cell has the same columns (survey_cell_columns). -#}
{% macro survey_cell(e) -%}
    {%- set where -%}
        k.instrument = '{{ e["source"] }}' and k.breakdown in {{ sql_list(e['breakdowns']) }}
    {%- endset -%}
    {%- if e['formula'] == 'respondents' %}
    select k.*, '{{ e["id"] }}', '{{ e["id"] }}', '{{ e["kind"] }}', {{ e['scale'] }}, true, 'value',
        cast(s.n as double), null, null, null, null, null, s.n
    from keys as k
    inner join scale as s using (time_period, time_identifier, instrument, urn, breakdown, breakdown_value)
    where {{ where }}
    {%- elif e['formula'] == 'scale_mean' %}
    select k.*, '{{ e["id"] }}', '{{ e["id"] }}', '{{ e["kind"] }}', {{ e['scale'] }}, true, 'value',
        s.sum_score, s.n, s.sum_sq, null, null, null, s.n
    from keys as k
    inner join scale as s using (time_period, time_identifier, instrument, urn, breakdown, breakdown_value)
    where {{ where }}
    {%- elif e['formula'] == 'positive_share' %}
    select k.*, '{{ e["id"] }}', '{{ e["id"] }}', '{{ e["kind"] }}', {{ e['scale'] }}, true, 'value',
        s.n_positive, s.n, null, null, null, null, s.n
    from keys as k
    inner join scale as s using (time_period, time_identifier, instrument, urn, breakdown, breakdown_value)
    where {{ where }}
    {%- elif e['formula'] == 'item_agree' %}
    select k.*, '{{ e["id"] }}', {{ indicator_name(e) }}, '{{ e["kind"] }}', {{ e['scale'] }}, i.answered > 0,
        case when i.answered > 0 then 'value' else 'missing' end,
        i.agreed, i.answered, null, null, null, null, i.answered
    from keys as k
    inner join items as i using (time_period, time_identifier, instrument, urn, breakdown, breakdown_value)
    where {{ where }}
    {%- elif e['formula'] == 'response_rate' %}
    -- the roll_cells of int_survey_cells_computed: respondents and pupils on roll of the surveyed year groups;
    -- a cell with no roll (staff: no year groups and no invited count in the lake) is not available
    select k.*, '{{ e["id"] }}', '{{ e["id"] }}', '{{ e["kind"] }}', {{ e['scale'] }},
        coalesce(r.included, false), coalesce(r.status, 'not_available'),
        case when r.included then r.rate_num end, case when r.included then r.rate_den end,
        null, null, null, null, s.n
    from keys as k
    inner join scale as s using (time_period, time_identifier, instrument, urn, breakdown, breakdown_value)
    left join roll_cells as r using (time_period, time_identifier, instrument, urn, breakdown, breakdown_value)
    where {{ where }}
    {%- elif e['formula'] == 'gap' %}
    -- non-{{ e['gap_of'] }} mean minus {{ e['gap_of'] }} mean: positive = the `Yes` group feels it belongs less
    select k.*, '{{ e["id"] }}', '{{ e["id"] }}', '{{ e["kind"] }}', {{ e['scale'] }},
        (coalesce(no_.n, 0) + coalesce(yes_.n, 0)) > 0,
        case when no_.n > 0 and yes_.n > 0 then 'value' else 'missing' end,
        no_.sum_score, no_.n, no_.sum_sq, yes_.sum_score, yes_.n, yes_.sum_sq,
        coalesce(no_.n, 0) + coalesce(yes_.n, 0)
    from keys as k
    left join scale as no_
        on no_.time_period = k.time_period and no_.time_identifier = k.time_identifier
        and no_.instrument = k.instrument and no_.urn = k.urn
        and no_.breakdown = '{{ e["gap_of"] }}' and no_.breakdown_value = 'No'
    left join scale as yes_
        on yes_.time_period = k.time_period and yes_.time_identifier = k.time_identifier
        and yes_.instrument = k.instrument and yes_.urn = k.urn
        and yes_.breakdown = '{{ e["gap_of"] }}' and yes_.breakdown_value = 'Yes'
    where {{ where }}
    {%- else %}
        {{ exceptions.raise_compiler_error("indicator " ~ e['id'] ~ ": no survey formula " ~ e['formula']) }}
    {%- endif %}
{%- endmacro %}

{#- The column names of a survey cell, in the order survey_cell selects them after the key columns. -#}
{% macro survey_cell_columns() -%}
    catalogue_id, indicator, kind, scale, included, value_status, num, den, num_sq, num2, den2, num2_sq, respondents
{%- endmacro %}

{#- Every breakdown some survey indicator of the catalogue is published by or is a gap of (Total first). -#}
{% macro survey_breakdowns() -%}
    {%- set out = ['Total'] -%}
    {%- for e in catalogue('survey') -%}
        {%- for b in e['breakdowns'] + ([e['gap_of']] if e['gap_of'] else []) if b not in out -%}
            {%- do out.append(b) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}
