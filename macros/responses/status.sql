{#- The `status` column of a landed row: '' for a success, otherwise `<HTTP reason>: <JSON error>`, e.g.
    `Bad Request: {"error": {"code": 400, "message": "Please use a valid role: user, model.", "status": "INVALID_ARGUMENT"}}`
    (Gemini), `Bad Request: {"type": "error", "error": {"type": "invalid_request_error", "message": "..."}}` (Claude:
    the Anthropic error body), or `{"code": 400, "message": "...", "status": "INVALID_ARGUMENT"}` (chat completions:
    their `error`, as the runner lands it). Each macro takes a SQL STRING expression; a NULL status (a request not
    answered yet) gives NULL. -#}

{#- Anthropic error types and their HTTP codes (docs.claude.com/en/api/errors). -#}
{% macro _anthropic_error_codes() %}
    {{- return({'invalid_request_error': 400, 'authentication_error': 401, 'permission_error': 403,
                'not_found_error': 404, 'request_too_large': 413, 'rate_limit_error': 429, 'api_error': 500,
                'timeout_error': 504, 'overloaded_error': 529}) -}}
{% endmacro %}

{#- TRUE for a successful row (status ''), FALSE for a failed one, NULL when not answered. -#}
{% macro is_success(status) %}
    {{- return(adapter.dispatch('is_success', 'vertex_batch')(status)) -}}
{% endmacro %}

{% macro default__is_success(status) -%}
    (({{ status }}) = '')
{%- endmacro %}


{#- The JSON error body of a failed row's status (the text from the first `{` to the last `}`), or NULL. -#}
{% macro parse_status(status) %}
    {{- return(adapter.dispatch('parse_status', 'vertex_batch')(status)) -}}
{% endmacro %}

{% macro default__parse_status(status) -%}
    {{- vertex_batch._unsupported('parse_status') -}}
{% endmacro %}

{#- BigQuery: SAFE.PARSE_JSON turns a malformed body into NULL instead of failing the query. -#}
{% macro bigquery__parse_status(status) -%}
    safe.parse_json(regexp_extract({{ status }}, r'(?s)(\{.*\})'))
{%- endmacro %}


{#- The error's HTTP code as INT64 (`error.code`; the code of an Anthropic `error.type`; else a leading 3-digit
    code of the status text). -#}
{% macro error_code(status) %}
    {{- return(adapter.dispatch('error_code', 'vertex_batch')(status)) -}}
{% endmacro %}

{% macro default__error_code(status) -%}
    {{- vertex_batch._unsupported('error_code') -}}
{% endmacro %}

{% macro bigquery__error_code(status) -%}
    coalesce(
        safe_cast(json_value({{ vertex_batch.parse_status(status) }}, '$.error.code') as int64),
        safe_cast(json_value({{ vertex_batch.parse_status(status) }}, '$.code') as int64),
        case json_value({{ vertex_batch.parse_status(status) }}, '$.error.type')
        {%- for name, code in vertex_batch._anthropic_error_codes().items() %}
            when '{{ name }}' then {{ code }}
        {%- endfor %}
        end,
        safe_cast(regexp_extract({{ status }}, r'^\s*(\d{3})\b') as int64))
{%- endmacro %}


{#- The error's canonical status name, e.g. INVALID_ARGUMENT, RESOURCE_EXHAUSTED; for Claude, the Anthropic error
    type, e.g. invalid_request_error, overloaded_error. -#}
{% macro error_status(status) %}
    {{- return(adapter.dispatch('error_status', 'vertex_batch')(status)) -}}
{% endmacro %}

{% macro default__error_status(status) -%}
    {{- vertex_batch._unsupported('error_status') -}}
{% endmacro %}

{% macro bigquery__error_status(status) -%}
    coalesce(
        json_value({{ vertex_batch.parse_status(status) }}, '$.error.status'),
        json_value({{ vertex_batch.parse_status(status) }}, '$.status'),
        json_value({{ vertex_batch.parse_status(status) }}, '$.error.type'))
{%- endmacro %}


{#- The error's message; the whole status text when it holds no JSON body; NULL on success. -#}
{% macro error_message(status) %}
    {{- return(adapter.dispatch('error_message', 'vertex_batch')(status)) -}}
{% endmacro %}

{% macro default__error_message(status) -%}
    {{- vertex_batch._unsupported('error_message') -}}
{% endmacro %}

{% macro bigquery__error_message(status) -%}
    coalesce(
        json_value({{ vertex_batch.parse_status(status) }}, '$.error.message'),
        json_value({{ vertex_batch.parse_status(status) }}, '$.message'),
        nullif({{ status }}, ''))
{%- endmacro %}


{#- TRUE when a failed row is worth sending again: code 429, 500, 503, 504, status RESOURCE_EXHAUSTED,
    UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED or Anthropic error type rate_limit_error, api_error,
    overloaded_error (a status text without JSON is searched for the codes and statuses); FALSE for successes
    and other errors; NULL when not answered. -#}
{% macro is_retryable(status,
                      codes=[429, 500, 503, 504],
                      statuses=['RESOURCE_EXHAUSTED', 'UNAVAILABLE', 'INTERNAL', 'DEADLINE_EXCEEDED'],
                      types=['rate_limit_error', 'api_error', 'overloaded_error']) -%}
    {{- return(adapter.dispatch('is_retryable', 'vertex_batch')(status, codes, statuses, types)) -}}
{% endmacro %}

{% macro default__is_retryable(status, codes, statuses, types) -%}
    {{- vertex_batch._unsupported('is_retryable') -}}
{% endmacro %}

{% macro bigquery__is_retryable(status, codes, statuses, types) -%}
    {%- set status_list -%}
        {%- for name in statuses -%}{{ vertex_batch._string_literal(name) }}{{ ", " if not loop.last }}{%- endfor -%}
    {%- endset -%}
    {%- set words = (statuses | list) + (codes | map('string') | list) -%}
    case
        when ({{ status }}) is null then null
        when ({{ status }}) = '' then false
        when {{ vertex_batch.error_code(status) }} in ({{ codes | join(", ") }}) then true
        when {{ vertex_batch.error_status(status) }} in ({{ status_list }}) then true
        when coalesce(json_value({{ vertex_batch.parse_status(status) }}, '$.error.type'),
                      json_value({{ vertex_batch.parse_status(status) }}, '$.type')) in (
            {%- for name in types -%}{{ vertex_batch._string_literal(name) }}{{ ", " if not loop.last }}{%- endfor -%}) then true
        when {{ vertex_batch.parse_status(status) }} is null
            then regexp_contains(upper({{ status }}), r'\b(?:{{ words | join("|") }})\b')
        else false
    end
{%- endmacro %}
