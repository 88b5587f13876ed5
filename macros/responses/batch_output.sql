{#- The landing table of a request model: the runner appends every batch job's output rows to
    `<request model>__batch_output`, in the request model's dataset. -#}

{#- The landing table's identifier for a request relation. -#}
{% macro landing_identifier(request_relation) %}
    {{- return(adapter.dispatch('landing_identifier', 'vertex_batch')(request_relation)) -}}
{% endmacro %}

{% macro default__landing_identifier(request_relation) -%}
    {{- return(request_relation.identifier ~ '__batch_output') -}}
{% endmacro %}


{#- The landing table as a Relation when it exists, else none (always none while parsing). -#}
{% macro landing_relation(request_relation) %}
    {{- return(adapter.dispatch('landing_relation', 'vertex_batch')(request_relation)) -}}
{% endmacro %}

{% macro default__landing_relation(request_relation) -%}
    {%- if not execute or request_relation is string or request_relation.identifier is not defined -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(
        database=request_relation.database,
        schema=request_relation.schema,
        identifier=vertex_batch.landing_identifier(request_relation))) }}
{% endmacro %}


{#- For use in FROM: the landing table of `request_relation` (call it with `ref('X')` so the lineage shows
    X -> predictions) when it exists, otherwise an empty select with the landing table's columns and types,
    so that a `dbt build` before any batch run still works. -#}
{% macro batch_output(request_relation) %}
    {{- return(adapter.dispatch('batch_output', 'vertex_batch')(request_relation)) -}}
{% endmacro %}

{% macro default__batch_output(request_relation) -%}
    {%- set landing = vertex_batch.landing_relation(request_relation) -%}
    {%- if landing is not none -%}
        {{ landing }}
    {%- else -%}
        ({{ vertex_batch.empty_batch_output(request_relation) }})
    {%- endif -%}
{% endmacro %}


{#- The landing table's columns after the key columns and `request_fingerprint`, for a request model of `family`:
    the request and the answer as production writes them (normalised to `status` and `processed_time` where a
    family lacks them), then the runner's columns. vertex_batch/landing.py (LANDED_COLUMNS) owns the same list;
    tests/unit/test_contracts.py checks both. `family` also takes a kind, 'generate' (Gemini) or 'embed' (legacy
    text embeddings). -#}
{% macro batch_output_columns(family='gemini') %}
    {{- return(adapter.dispatch('batch_output_columns', 'vertex_batch')(family)) -}}
{% endmacro %}

{% macro default__batch_output_columns(family='gemini') -%}
    {%- set family = {'generate': 'gemini', 'embed': 'text-embedding'}.get(family, family) -%}
    {%- set answer = [('response', 'json'), ('status', 'string'), ('processed_time', 'timestamp')] -%}
    {%- set landed = {
        'gemini': [('request', 'json')] + answer,
        'claude': [('custom_id', 'string'), ('request', 'json')] + answer,
        'chat-completions': [('custom_id', 'string'), ('id', 'string'), ('request', 'json'), ('response', 'json'),
                             ('error', 'json'), ('status', 'string'), ('processed_time', 'timestamp')],
        'gemini-embedding': [('custom_id', 'string'), ('request', 'json')] + answer,
        'text-embedding': [('content', 'string'), ('predictions', 'json'), ('status', 'string')]} -%}
    {{- return(landed[family] + [
        ('batch_job_name', 'string'),
        ('batch_attempt', 'int64'),
        ('landed_at', 'timestamp')]) -}}
{% endmacro %}


{#- A select of no rows shaped like the landing table: the request relation's key columns with their types,
    `request_fingerprint`, then the family's landing columns (jobs get only what their family reads). -#}
{% macro empty_batch_output(request_relation) %}
    {{- return(adapter.dispatch('empty_batch_output', 'vertex_batch')(request_relation)) -}}
{% endmacro %}

{% macro default__empty_batch_output(request_relation) -%}
    {%- set added = vertex_batch.batch_output_columns(vertex_batch.request_family(request_relation)) -%}
    {%- set keys = vertex_batch._request_key(request_relation) | map('lower') | list -%}
    {%- set columns = [] -%}
    {%- if execute and request_relation is not string and request_relation.identifier is defined -%}
        {%- set existing = adapter.get_relation(database=request_relation.database,
                                                schema=request_relation.schema,
                                                identifier=request_relation.identifier) -%}
        {%- if existing is not none -%}
            {%- for column in adapter.get_columns_in_relation(existing) -%}
                {%- if column.name | lower in keys and column.name | lower != 'request_fingerprint' -%}
                    {%- do columns.append((column.name, column.data_type)) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    {%- do columns.append(('request_fingerprint', 'string')) -%}
    select
    {%- for name, data_type in columns + added %}
        cast(null as {{ data_type }}) as {{ adapter.quote(name) }}{{ "," if not loop.last }}
    {%- endfor %}
    from unnest([1]) as _vb_empty
    where false
{%- endmacro %}
