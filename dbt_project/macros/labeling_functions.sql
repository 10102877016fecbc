{#-
    labeling_functions()

    The labeling functions of the project (docs/labeling/weak-supervision.md): every enabled
    model tagged `labeling_function`, found in dbt's `graph` at execution time, sorted by name,
    each as {name, task, description, path, sql}. `sql` is the function's own SQL rendered in the
    calling model's context, so a caller inlines the functions instead of ref-ing them: dbt
    builds its DAG while parsing, when `graph` is still empty, so a ref found only at execution
    time would be refused ("dbt was unable to infer all dependencies"). A caller therefore
    depends on whatever the functions read (`-- depends_on:` lines); a function that reads
    anything else stops the build here with a message saying which line to add.

    The task of a function is its `meta.task`, else the part of its name between `lf_` and
    `__` (lf_<task>__<name>). While dbt parses (execute is false) the list is empty.
-#}
{% macro labeling_functions() -%}
    {%- set functions = [] -%}
    {%- if execute -%}
        {%- set caller_inputs = model.depends_on.nodes -%}
        {%- for node in graph.nodes.values() | selectattr('resource_type', 'equalto', 'model') | sort(attribute='name') -%}
            {%- if 'labeling_function' in node.tags -%}
                {%- set where = "labeling function " ~ node.name ~ " (" ~ node.original_file_path ~ ")" -%}
                {%- set meta_task = (node.config.meta or {}).get('task') or (node.meta or {}).get('task') -%}
                {%- set name_match = modules.re.match('^lf_([a-z0-9_]+?)__[a-z0-9_]+$', node.name) -%}
                {%- set name_task = name_match.group(1) if name_match else none -%}
                {%- if node.language != 'sql' -%}
                    {{ exceptions.raise_compiler_error(
                        where ~ ": only SQL models can be labeling functions; rewrite it in SQL or remove the tag"
                    ) }}
                {%- endif -%}
                {%- if not meta_task and not name_task -%}
                    {{ exceptions.raise_compiler_error(
                        where ~ ": no task. Name it lf_<task>__<name> or set config(meta={'task': '<task>'})"
                    ) }}
                {%- endif -%}
                {%- if meta_task and name_task and meta_task != name_task -%}
                    {{ exceptions.raise_compiler_error(
                        where ~ ": meta.task '" ~ meta_task ~ "' contradicts the task '" ~ name_task
                        ~ "' in its name lf_<task>__<name>; make them agree"
                    ) }}
                {%- endif -%}
                {%- for input in node.depends_on.nodes -%}
                    {%- if input not in caller_inputs -%}
                        {{ exceptions.raise_compiler_error(
                            where ~ " reads " ~ input ~ ", which " ~ model.name ~ " does not depend on. Labeling "
                            ~ "functions are inlined into " ~ model.name ~ ": add the line `-- depends_on: {{ ref('"
                            ~ input.split('.')[-1] ~ "') }}` to " ~ model.original_file_path
                        ) }}
                    {%- endif -%}
                {%- endfor -%}
                {%- do functions.append({
                    'name': node.name,
                    'task': meta_task or name_task,
                    'description': (node.description or '') | trim,
                    'path': node.original_file_path,
                    'sql': render(node.raw_code) | trim | trim(';'),
                }) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(functions) }}
{%- endmacro %}

{#-
    weak_supervision_setting(name)

    A weak-supervision var checked for its range (dbt_project.yml gives each one's reason):
    a value outside it stops the build naming the var and the range.
-#}
{% macro weak_supervision_setting(name) -%}
    {%- set ranges = {
        'weak_supervision_prior_accuracy': [0.0, 1.0, false],
        'weak_supervision_prior_strength': [0.0, none, true],
        'weak_supervision_max_accuracy': [0.5, 1.0, false],
        'weak_label_min_confidence': [0.0, 1.0, true],
    } -%}
    {%- set value = var(name) -%}
    {%- set low, high, closed = ranges[name] -%}
    {%- set is_number = value is number and value is not boolean -%}
    {%- set too_low = is_number and (value < low or (not closed and value == low)) -%}
    {%- set too_high = is_number and high is not none and (value > high or (not closed and value == high)) -%}
    {%- if not is_number or too_low or too_high -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " = " ~ value ~ " is out of range: it must be a number "
            ~ ("in [" if closed else "in (") ~ low ~ ", " ~ (high if high is not none else "inf")
            ~ ("]" if closed else ")") ~ " (dbt_project.yml explains it)"
        ) }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{#-
    weak_supervision_scope(task_column, source_column)

    A predicate: the document's source is one of the sources var weak_supervision_sources lists
    for the task ({task: [source, ...]}); a task not listed takes every source. Votes, reference
    labels and the data points of lf_analysis are limited by it, so a task about support tickets
    does not label, or count, the pages of a handbook.
-#}
{% macro weak_supervision_scope(task_column, source_column) -%}
    {%- set scopes = var('weak_supervision_sources') or {} -%}
    {%- if scopes is not mapping -%}
        {{ exceptions.raise_compiler_error(
            "var weak_supervision_sources must map a task to a list of source names, e.g. {topic: [tickets]}; got "
            ~ scopes
        ) }}
    {%- endif -%}
    {%- if not scopes -%}
        true
    {%- else -%}
        case {{ task_column }}
            {%- for task, sources in scopes.items() %}
                {%- if sources is string or sources is not iterable or sources is mapping %}
                    {{ exceptions.raise_compiler_error(
                        "var weak_supervision_sources: the sources of task '" ~ task
                        ~ "' must be a list of source names, e.g. [tickets]; got " ~ sources
                    ) }}
                {%- endif %}
            when {{ sql_string_literal(task) }} then
                {%- if sources | length == 0 %} false
                {%- else %} {{ source_column }} in (
                    {%- for source in sources -%}
                        {{ sql_string_literal(source) }}{{ ", " if not loop.last }}
                    {%- endfor -%}
                )
                {%- endif %}
            {%- endfor %}
            else true
        end
    {%- endif -%}
{%- endmacro %}
