{#- The admin formulas of the catalogue (indicators/catalogue.yaml `formula`), each the SQL of one indicator's
    school cells over the `schools` CTE of int_admin_cells_computed (spine x int_admin_inputs_pivoted):
      count           numerator (summed counts)
      ratio           numerator / denominator x scale
      representation  numerator / (denominator x the same share across all schools of the school's phase in
                      its LA): summed above school level, pupils over the pupils expected at the local share
      cohort          numerator / the same school's denominator `years` academic years earlier (its URN then
                      through GIAS predecessor links, int_school_cohorts_followed) x scale; a school that opened,
                      closed, merged or changed its age range in the window is shown (`low_reliability`) but
                      enters no sum above it
    Every cell: the summable parts num and den, whether the school enters aggregates (`included`: every input
    published as a number) and its status (the first unusable input's status, never turned into 0). -#}
{% macro admin_cell(e) -%}
    {%- set inputs = e['num_columns'] + ([e['den_column']] if e['den_column'] else []) %}
    {%- set num = e['num_columns'] | join(' + ') %}
    {%- if e['formula'] in ('count', 'ratio') %}
    select
        {{ admin_cell_key(e) }},
        {{ cell_included(inputs) }} as included,
        {{ cell_status(inputs, e['den_column']) }} as value_status,
        case when {{ cell_included(inputs) }} then {{ num }} end as num,
        case when {{ cell_included(inputs) }} then {{ e['den_column'] or 'null' }} end as den
    from schools
    {%- elif e['formula'] == 'representation' %}
    select
        {{ admin_cell_key(e) }},
        {{ cell_included(inputs) }} and local_share is not null as included,
        case
            when not {{ cell_included(inputs) }} then {{ cell_status(inputs, none) }}
            when local_share is null then 'missing'
            when {{ e['den_column'] }} * local_share = 0 then 'not_applicable'
            else 'value'
        end as value_status,
        case when {{ cell_included(inputs) }} and local_share is not null then {{ num }} end as num,
        case when {{ cell_included(inputs) }} and local_share is not null then {{ e['den_column'] }} * local_share end as den
    from (
        select
            schools.*,
            -- the same share across all schools of the same phase in the same LA (those with usable inputs)
            sum(case when {{ cell_included(inputs) }} then {{ num }} end)
                over (partition by schools.time_period, schools.new_la_code, schools.phase)
            / nullif(sum(case when {{ cell_included(inputs) }} then {{ e['den_column'] }} end)
                over (partition by schools.time_period, schools.new_la_code, schools.phase), 0) as local_share
        from schools
    ) as schools
    {%- elif e['formula'] == 'cohort' %}
    {%- set then = e['den_column'] ~ '_then' %}
    {%- set inputs = e['num_columns'] + [then] %}
    select
        {{ admin_cell_key(e) }},
        -- a school with no pupils in the first year group (a primary school) has no cohort: in no sum
        {{ cell_included(inputs) }} and {{ then }} <> 0 and not schools.flagged as included,
        case
            when schools.earlier_urn is null then 'not_applicable'
            when not {{ cell_included(inputs) }} or {{ then }} = 0 then {{ cell_status(inputs, then) }}
            when schools.flagged then 'low_reliability'
            else 'value'
        end as value_status,
        case when {{ cell_included(inputs) }} then {{ num }} end as num,
        case when {{ cell_included(inputs) }} then {{ then }} end as den
    from (
        select
            schools.*,
            followed.earlier_urn,
            coalesce(followed.flagged, true) as flagged,
            earlier.{{ e['den_column'] }} as {{ then }},
            earlier.{{ e['den_column'] }}_status as {{ then }}_status
        from schools
        left join followed
            on followed.time_period = schools.time_period and followed.urn = schools.urn
            and followed.years = {{ e['years'] }}
        left join inputs as earlier
            on earlier.time_period = followed.earlier_time_period and earlier.urn = followed.earlier_urn
    ) as schools
    -- the denominator's year exists: the count was published for some school `years` earlier
    inner join published as published_then
        on published_then.time_period = schools.time_period - 101 * {{ e['years'] }}
        and published_then.has_{{ e['den_column'] }}
    {%- else %}
        {{ exceptions.raise_compiler_error("indicator " ~ e['id'] ~ ": no admin formula " ~ e['formula']) }}
    {%- endif %}
    -- the indicator exists for a year when its (first) numerator was published for some school that year
    inner join published on published.time_period = schools.time_period and published.has_{{ e['num_columns'][0] }}
{%- endmacro %}

{#- The leading columns of every admin cell: the school year, the catalogue entry and how its value is made. -#}
{% macro admin_cell_key(e) -%}
    schools.time_period,
        schools.urn,
        '{{ e["id"] }}' as catalogue_id,
        '{{ e["id"] }}' as indicator,
        '{{ e["kind"] }}' as kind,
        cast({{ e['scale'] }} as double) as scale
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
