{#-
    label_source_options(var_name='label_sources')

    The options refinery.yml gives each label source, as rows (source_name, level, label_order,
    task_name, item_source, is_gold_source), from var `label_sources` (annotation sources: level of
    measurement, ordinal order, `gold` (every annotation is gold: an adjudication export), and for
    CSV sources the default task and the source whose item ids the rows use) or `prediction_sources` (predictions_csv sources: task, item_source). Refinery's dbt
    invocations set both from refinery.yml (refinery/dbt.py:dbt_vars); a source
    not listed is nominal, its default task is its own name and its ids are its own.
-#}
{% macro label_source_options(var_name='label_sources') -%}
    {%- set sources = var(var_name, {}) or {} -%}
    select *
    from (
        values
        (null::varchar, 'nominal', []::varchar[], null::varchar, null::varchar, false)
        {%- for name, options in sources.items() %}
        , (
            {{ sql_string_literal(name) }},
            {{ sql_string_literal(options.get('level', 'nominal')) }},
            [{% for value in options.get('order') or [] %}{{ sql_string_literal(value) }}{{ ', ' if not loop.last }}{% endfor %}]::varchar[],
            {{ sql_string_literal(options['task']) if options.get('task') else 'null' }},
            {{ sql_string_literal(options['item_source']) if options.get('item_source') else 'null' }},
            {{ 'true' if options.get('gold') is sameas true else 'false' }}
        )
        {%- endfor %}
    ) as options (source_name, level, label_order, task_name, item_source, is_gold_source)
    where source_name is not null
{%- endmacro %}
