{#
  DuckDB adds up doubles in parallel, in no fixed order, so a sum's last bits vary from run to run
  (51.2499999999 one run, 51.2500000001 the next) and a figure rounded for publication could flip.
  Every double the marts publish is settled to 9 decimal places: far below any published precision,
  far above floating-point noise, so the same lake gives the same marts and byte-identical extracts.
#}
{% macro settle(expression) -%}
    round(cast({{ expression }} as double), 9)
{%- endmacro %}
