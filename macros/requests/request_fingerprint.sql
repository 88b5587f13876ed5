{#- Hex SHA-256 of the serialised request JSON: the identity of a request. Predictions are kept per
    key + fingerprint, so editing a prompt or its settings asks again, and an unchanged request never does. -#}
{% macro request_fingerprint(request_column='request') %}
    {{- return(adapter.dispatch('request_fingerprint', 'vertex_batch')(request_column)) -}}
{% endmacro %}

{% macro default__request_fingerprint(request_column) -%}
    {{- vertex_batch._unsupported('request_fingerprint') -}}
{% endmacro %}

{#- BigQuery: TO_JSON_STRING serialises a JSON value compactly and deterministically. -#}
{% macro bigquery__request_fingerprint(request_column) -%}
    to_hex(sha256(to_json_string({{ request_column }})))
{%- endmacro %}
