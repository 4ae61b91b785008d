{#- The admin indicators (spec/indicators.md), each a ratio of two published counts (or one count).
    num/den name `<publication>__<measure>` inputs of int_admin_inputs_pivoted; scale 100 = per cent / per
    100 pupils. Representation ratios are built in int_admin_cells_computed from these same inputs. -#}
{% macro admin_indicators() -%}
    {{ return([
        {'indicator': 'pupils_headcount', 'kind': 'sum', 'scale': 1, 'num': ['census__headcount'], 'den': none},
        {'indicator': 'fsm_percent', 'kind': 'ratio', 'scale': 100, 'num': ['census__fsm_eligible'], 'den': 'census__fsm_base'},
        {'indicator': 'sen_support_percent', 'kind': 'ratio', 'scale': 100, 'num': ['sen__sen_support'], 'den': 'sen__total_pupils'},
        {'indicator': 'ehcp_percent', 'kind': 'ratio', 'scale': 100, 'num': ['sen__ehc_plan'], 'den': 'sen__total_pupils'},
        {'indicator': 'overall_absence_percent', 'kind': 'ratio', 'scale': 100, 'num': ['absence__sess_overall'], 'den': 'absence__sess_possible'},
        {'indicator': 'persistent_absence_percent', 'kind': 'ratio', 'scale': 100, 'num': ['absence__enrolments_pa_10'], 'den': 'absence__enrolments'},
        {'indicator': 'severe_absence_percent', 'kind': 'ratio', 'scale': 100, 'num': ['absence__enrolments_pa_50'], 'den': 'absence__enrolments'},
        {'indicator': 'suspension_rate', 'kind': 'ratio', 'scale': 100, 'num': ['exclusions__suspension'], 'den': 'exclusions__headcount'},
        {'indicator': 'one_plus_suspension_percent', 'kind': 'ratio', 'scale': 100, 'num': ['exclusions__one_plus_susp'], 'den': 'exclusions__headcount'},
        {'indicator': 'permanent_exclusion_rate', 'kind': 'ratio', 'scale': 100, 'num': ['exclusions__perm_excl'], 'den': 'exclusions__headcount'},
    ]) }}
{%- endmacro %}

{#- The representation ratios: a school's share of pupils with the characteristic over the same share across
    all schools of its phase in its local authority. -#}
{% macro representation_indicators() -%}
    {{ return([
        {'indicator': 'send_representation_ratio', 'num': ['sen__sen_support', 'sen__ehc_plan'], 'den': 'sen__total_pupils'},
        {'indicator': 'fsm_representation_ratio', 'num': ['census__fsm_eligible'], 'den': 'census__fsm_base'},
    ]) }}
{%- endmacro %}

{#- Status of a school cell whose inputs are the listed `<input>` / `<input>_status` columns: the first
    unusable input's status (never turned into 0), `not_applicable` for a zero denominator, else `value`. -#}
{% macro cell_status(inputs, den) -%}
    case
        {%- for i in inputs %}
        when not {{ is_usable(i, i ~ '_status') }} then coalesce(nullif({{ i }}_status, 'value'), 'missing')
        {%- endfor %}
        {%- if den %}
        when {{ den }} = 0 then 'not_applicable'
        {%- endif %}
        else 'value'
    end
{%- endmacro %}

{% macro cell_included(inputs) -%}
    ({%- for i in inputs %}{{ is_usable(i, i ~ '_status') }}{{ ' and ' if not loop.last }}{% endfor -%})
{%- endmacro %}
