{#
  DuckDB adds up doubles in parallel, in no fixed order, so a sum's last bits vary from run to run
  (51.2499999999 one run, 51.2500000001 the next) and a figure rounded for publication could flip.
  Every double the marts publish is settled to 9 decimal places: far below any published precision,
  far above floating-point noise, so the same lake gives the same marts and byte-identical extracts.
#}
{% macro settle(expression) -%}
    round(cast({{ expression }} as double), 9)
{%- endmacro %}

{#-
  A sum of doubles in an order that does not matter: each term fixed to 12 decimal places and added exactly
  (DECIMAL(38, 12), 26 digits before the point), then a double again. settle() alone is not enough for sums of
  many large terms: a national roll-up of 24,000 schools' sums of scores (about 2e5) varies in its 9th decimal
  from run to run (183548.333333333 one run, 183548.333333334 the next), and a Parquet extract shows it.
#}
{% macro exact_sum(expression, where=none) -%}
    cast(sum(cast({{ expression }} as decimal(38, 12))){% if where %} filter (where {{ where }}){% endif %} as double)
{%- endmacro %}
