{#- The identity of a request row is its key plus `request_fingerprint`: the hex SHA-256 of
        <model id> '\n' <job-level parameters as JSON with sorted keys> '\n' TO_JSON_STRING(request)
    where the model is meta.vertex_batch.model (default: var vertex_batch_model, else the catalog's default model)
    without a `[projects/P/locations/L/]publishers/X/models/` prefix (vertex_batch.catalog.model_name), and the parameters are the job's modelParameters (`{}` for Gemini
    generate jobs), serialised as Python's json.dumps(..., sort_keys=True) writes them. Changing a
    prompt, a generation setting or the model asks again for exactly those rows; an unchanged row never is.

    Nobody has to write it: the runner computes it when it stages rows (vertex_batch/identity.py renders the
    same expression) and the flatten macros compute it from the request relation. A request model that still
    has its own `request_fingerprint` column keeps working: that column is ignored. -#}
{% macro request_fingerprint(request_column='request', model=none, params=none) %}
    {{- return(adapter.dispatch('request_fingerprint', 'vertex_batch')(request_column, model, params)) -}}
{% endmacro %}

{% macro default__request_fingerprint(request_column, model, params) -%}
    {{- vertex_batch._unsupported('request_fingerprint') -}}
{% endmacro %}

{#- BigQuery: TO_JSON_STRING serialises a JSON value compactly and deterministically. -#}
{% macro bigquery__request_fingerprint(request_column, model, params) -%}
    {%- set model_name = vertex_batch._model_name(model or vertex_batch._default_model()) -%}
    {%- set params_json = tojson(params or {}, sort_keys=true) -%}
    to_hex(sha256(concat({{ vertex_batch._string_literal(model_name) }}, '\n', {{ vertex_batch._string_literal(params_json) }}, '\n', to_json_string({{ request_column }}))))
{%- endmacro %}


{#- The fingerprint expression of the Gemini request model whose relation is `request_relation`: its model
    comes from that model's meta.vertex_batch (looked up in the graph), else var vertex_batch_model. Gemini
    generate jobs take no job-level parameters, so they are `{}` (as the runner renders them). -#}
{% macro request_fingerprint_of(request_relation, request_column='request') %}
    {{- return(adapter.dispatch('request_fingerprint_of', 'vertex_batch')(request_relation, request_column)) -}}
{% endmacro %}

{% macro default__request_fingerprint_of(request_relation, request_column) -%}
    {%- set settings = vertex_batch._request_settings(request_relation) -%}
    {{- return(vertex_batch.request_fingerprint(request_column, settings.get('model'), none)) -}}
{% endmacro %}



{#- meta.vertex_batch of the model whose relation is `relation` (looked up in the graph), or {} when
    there is none (a relation that is not a request model, or a unit-test fixture). -#}
{% macro _request_settings(relation) %}
    {%- if execute and relation is not string and relation.identifier is defined -%}
        {%- for node in (graph.get('nodes') or {}).values() -%}
            {%- if node.resource_type == 'model'
                and (node.alias or node.name) | lower == (relation.identifier or '') | lower
                and (node.schema or '') | lower == (relation.schema or '') | lower -%}
                {%- set meta = node.config.get('meta', {}) or node.get('meta', {}) or {} -%}
                {{ return(meta.get('vertex_batch', {}) or {}) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return({}) }}
{% endmacro %}
