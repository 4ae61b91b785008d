{#- The ONE mapping between a cell's status (ingestion/lake_schema.py STATUSES, mart value_status) and the
    GSS symbol an extract or wide view shows. A `value` (or a low-reliability value that was published)
    has no symbol: the number is shown. -#}
{% macro gss_symbol(status) -%}
    case {{ status }}
        when 'value' then null
        when 'low_reliability' then 'u'
        when 'suppressed' then 'c'
        when 'not_available' then 'x'
        when 'not_applicable' then 'z'
        when 'low' then 'low'
        when 'missing' then 'x'
    end
{%- endmacro %}

{#- A cell whose number can enter a sum: published as a number (`value`, or `low_reliability` with its
    value kept). Everything else (suppressed, not available, not applicable, low, missing) is left out of
    numerator and denominator alike. -#}
{% macro is_usable(value, status) -%}
    ({{ value }} is not null and coalesce({{ status }}, 'value') in ('value', 'low_reliability'))
{%- endmacro %}
