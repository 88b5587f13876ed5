{#- Embeddings request models. A request model whose meta.vertex_batch.model is an embedding model in the model
    catalog (or that sets meta.vertex_batch.family to an embedding family), sends its `content` column (and the
    optional `task_type` and `title` columns) to an embeddings batch job instead of a Gemini `request`.
    meta.vertex_batch.output_dimensionality / auto_truncate become the job's modelParameters
    (outputDimensionality / autoTruncate). vertex_batch/identity.py holds the same rules for the runner; a
    test checks that both agree. -#}

{#- Optional columns of an embeddings request model that take part in the row's identity, in order. -#}
{% macro _embedding_optional_columns() %}
    {{- return(['task_type', 'title']) -}}
{% endmacro %}


{#- 'embed' or 'generate' for a model: its kind in the model catalog; for a model the catalog does not know,
    'embed' when `family` (meta.vertex_batch.family) is an embedding family. -#}
{% macro model_kind(model, family=none) %}
    {%- set entry = vertex_batch._catalog_model(model) -%}
    {%- if entry is not none -%}
        {{ return(entry.kind) }}
    {%- endif -%}
    {{ return('embed' if family in ('gemini-embedding', 'text-embedding') else 'generate') }}
{% endmacro %}


{#- The kind of the request model whose relation is `request_relation` (meta.vertex_batch.kind, else from its
    model, else from var vertex_batch_model). -#}
{% macro request_kind(request_relation) %}
    {%- set settings = vertex_batch._request_settings(request_relation) -%}
    {{- return(vertex_batch.model_kind(settings.get('model') or vertex_batch._default_model(),
                                       settings.get('kind'))) -}}
{% endmacro %}


{#- The job-level modelParameters of an embeddings request model: meta.vertex_batch.model_parameters with
    output_dimensionality -> outputDimensionality and auto_truncate -> autoTruncate applied over it. -#}
{% macro embedding_parameters(settings) %}
    {%- set params = dict(settings.get('model_parameters') or {}) -%}
    {%- if settings.get('output_dimensionality') is not none -%}
        {%- do params.update({'outputDimensionality': settings.get('output_dimensionality') | int}) -%}
    {%- endif -%}
    {%- if settings.get('auto_truncate') is not none -%}
        {%- do params.update({'autoTruncate': settings.get('auto_truncate') in (true, 'true', 'True')}) -%}
    {%- endif -%}
    {{- return(params) -}}
{% endmacro %}


{#- The identity of an embeddings row: hex SHA-256 of
        <model id> '\n' <modelParameters JSON, sorted keys> '\n' <payload>
    where the payload is TO_JSON_STRING(content), then '\n<column>=' TO_JSON_STRING(value) for each optional
    column (task_type, title) that is present and not NULL. `optional` lists the optional columns the request
    model has. -#}
{% macro embedding_fingerprint(model, params=none, content_column='content', optional=[]) %}
    {{- return(adapter.dispatch('embedding_fingerprint', 'vertex_batch')(model, params, content_column, optional)) -}}
{% endmacro %}

{% macro default__embedding_fingerprint(model, params, content_column, optional) -%}
    {{- vertex_batch._unsupported('embedding_fingerprint') -}}
{% endmacro %}

{% macro bigquery__embedding_fingerprint(model, params, content_column, optional) -%}
    {%- set model_name = (model | string).strip().split('publishers/google/models/') | last -%}
    {%- set params_json = tojson(params or {}, sort_keys=true) -%}
    {%- set parts = ['to_json_string(' ~ content_column ~ ')'] -%}
    {%- for column in vertex_batch._embedding_optional_columns() if column in optional -%}
        {%- do parts.append("coalesce(concat('\\n" ~ column ~ "=', to_json_string(" ~ column ~ ")), '')") -%}
    {%- endfor -%}
    to_hex(sha256(concat({{ vertex_batch._string_literal(model_name) }}, '\n', {{ vertex_batch._string_literal(params_json) }}, '\n', {{ parts | join(', ') }})))
{%- endmacro %}


{#- The fingerprint expression of the embeddings request model whose relation is `request_relation`: model,
    parameters and optional columns read from the graph and the built relation (none found: content only). -#}
{% macro embedding_fingerprint_of(request_relation) %}
    {%- set settings = vertex_batch._request_settings(request_relation) -%}
    {%- set optional = [] -%}
    {%- if settings and request_relation.schema and request_relation.identifier -%}
        {%- set existing = adapter.get_relation(database=request_relation.database,
                                                schema=request_relation.schema,
                                                identifier=request_relation.identifier) -%}
        {%- if existing is not none -%}
            {%- for column in adapter.get_columns_in_relation(existing) -%}
                {%- if column.name | lower in vertex_batch._embedding_optional_columns() -%}
                    {%- do optional.append(column.name | lower) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    {{- return(vertex_batch.embedding_fingerprint(
        settings.get('model') or vertex_batch._default_model(),
        vertex_batch.embedding_parameters(settings), 'content', optional)) -}}
{% endmacro %}
