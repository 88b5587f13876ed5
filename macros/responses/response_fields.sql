{#- Fields of a Gemini `GenerateContentResponse` (the `response` JSON column of a batch output row).
    Each macro takes a SQL expression of type JSON and returns a typed SQL expression; a NULL response
    (a request not answered yet) gives NULL. -#}

{#- All text parts of the first candidate, in order, joined with ''. Thought summaries (parts with
    `"thought": true`) are left out. NULL when the candidate has no text (e.g. an error row). -#}
{% macro response_text(response) %}
    {{- return(adapter.dispatch('response_text', 'vertex_batch')(response)) -}}
{% endmacro %}

{% macro default__response_text(response) -%}
    {{- vertex_batch._unsupported('response_text') -}}
{% endmacro %}

{#- BigQuery: UNNEST ... WITH OFFSET keeps the part order (JSON arrays have no other order key). -#}
{% macro bigquery__response_text(response) -%}
    (select string_agg(json_value(_vb_part, '$.text'), '' order by _vb_offset)
     from unnest(json_query_array({{ vertex_batch._json_array_at(response, '$.candidates[0].content.parts') }})) as _vb_part
         with offset as _vb_offset
     where coalesce(json_value(_vb_part, '$.thought'), 'false') != 'true')
{%- endmacro %}


{#- `finishReason` of the first candidate: STOP, MAX_TOKENS, SAFETY, RECITATION, ... -#}
{% macro finish_reason(response) %}
    {{- return(adapter.dispatch('finish_reason', 'vertex_batch')(response)) -}}
{% endmacro %}

{% macro default__finish_reason(response) -%}
    {{- vertex_batch._unsupported('finish_reason') -}}
{% endmacro %}

{% macro bigquery__finish_reason(response) -%}
    json_value({{ response }}, '$.candidates[0].finishReason')
{%- endmacro %}


{#- A token count of `usageMetadata` as INT64: kind = prompt | candidates | thoughts | total |
    cached_content | tool_use_prompt (or the camelCase field name). The service omits zero counts, so a
    response with `usageMetadata` gives 0 for a missing count; a response without it gives NULL. -#}
{% macro token_count(response, kind) %}
    {{- return(adapter.dispatch('token_count', 'vertex_batch')(response, kind)) -}}
{% endmacro %}

{% macro default__token_count(response, kind) -%}
    {{- vertex_batch._unsupported('token_count') -}}
{% endmacro %}

{% macro bigquery__token_count(response, kind) -%}
    {%- set fields = {
        'prompt': 'promptTokenCount',
        'candidates': 'candidatesTokenCount',
        'candidate': 'candidatesTokenCount',
        'thoughts': 'thoughtsTokenCount',
        'total': 'totalTokenCount',
        'cached_content': 'cachedContentTokenCount',
        'tool_use_prompt': 'toolUsePromptTokenCount'} -%}
    {%- set field = fields.get(kind, kind) -%}
    if(json_query({{ response }}, '$.usageMetadata') is null, null,
       coalesce(safe_cast(json_value({{ response }}, '$.usageMetadata.{{ field }}') as int64), 0))
{%- endmacro %}


{#- `modelVersion` of the response, e.g. `gemini-2.5-flash-001`. -#}
{% macro model_version(response) %}
    {{- return(adapter.dispatch('model_version', 'vertex_batch')(response)) -}}
{% endmacro %}

{% macro default__model_version(response) -%}
    {{- vertex_batch._unsupported('model_version') -}}
{% endmacro %}

{% macro bigquery__model_version(response) -%}
    json_value({{ response }}, '$.modelVersion')
{%- endmacro %}


{#- `avgLogprobs` of the first candidate as FLOAT64. -#}
{% macro avg_logprobs(response) %}
    {{- return(adapter.dispatch('avg_logprobs', 'vertex_batch')(response)) -}}
{% endmacro %}

{% macro default__avg_logprobs(response) -%}
    {{- vertex_batch._unsupported('avg_logprobs') -}}
{% endmacro %}

{% macro bigquery__avg_logprobs(response) -%}
    safe_cast(json_value({{ response }}, '$.candidates[0].avgLogprobs') as float64)
{%- endmacro %}


{#- TRUE when the prompt was blocked (`promptFeedback.blockReason`) or the first candidate stopped for a
    safety reason (SAFETY, BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY); FALSE otherwise; NULL for a
    NULL response. -#}
{% macro safety_blocked(response, reasons=['SAFETY', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY']) %}
    {{- return(adapter.dispatch('safety_blocked', 'vertex_batch')(response, reasons)) -}}
{% endmacro %}

{% macro default__safety_blocked(response, reasons) -%}
    {{- vertex_batch._unsupported('safety_blocked') -}}
{% endmacro %}

{% macro bigquery__safety_blocked(response, reasons) -%}
    if(({{ response }}) is null, null, coalesce(
        json_value({{ response }}, '$.promptFeedback.blockReason') is not null
        or json_value({{ response }}, '$.candidates[0].finishReason') in (
            {%- for reason in reasons -%}{{ vertex_batch._string_literal(reason) }}{{ ", " if not loop.last }}{%- endfor -%}),
        false))
{%- endmacro %}


{#- The batch cost in USD of one answered row, from its `usageMetadata` and the price of `model` (a Gemini
    model name, e.g. `gemini-2.5-flash`): prompt, candidate, thought, cached-content and tool-use prompt
    tokens, the batch discount, the implicit-cache price (which does not stack with the batch discount)
    and long-context tiers. The formulas come from vertex_batch/prices.csv through the generated
    `_cost_formulas` macro, the same table the runner's ledger uses. NULL for a response without usage
    metadata, and for a model the price table does not know (a one-line warning at compile time). -#}
{% macro cost_usd(response, model) %}
    {{- return(adapter.dispatch('cost_usd', 'vertex_batch')(response, model)) -}}
{% endmacro %}

{% macro default__cost_usd(response, model) -%}
    {{- vertex_batch._unsupported('cost_usd') -}}
{% endmacro %}

{% macro bigquery__cost_usd(response, model) -%}
    {%- set formulas = vertex_batch._cost_formulas() -%}
    {%- set price_key = vertex_batch._price_key(model) -%}
    {%- if price_key not in formulas -%}
        {%- if execute -%}
            {{- log("warning: no price for model '" ~ model ~ "' in vertex_batch/prices.csv; cost_usd is NULL (add a row to price it)", info=true) -}}
        {%- endif -%}
        cast(null as float64)
    {%- else -%}
        {{- formulas[price_key]
            | replace('{prompt}', '(' ~ vertex_batch.token_count(response, 'prompt') ~ ')')
            | replace('{candidates}', '(' ~ vertex_batch.token_count(response, 'candidates') ~ ')')
            | replace('{thoughts}', '(' ~ vertex_batch.token_count(response, 'thoughts') ~ ')')
            | replace('{cached_content}', '(' ~ vertex_batch.token_count(response, 'cached_content') ~ ')')
            | replace('{tool_use_prompt}', '(' ~ vertex_batch.token_count(response, 'tool_use_prompt') ~ ')') -}}
    {%- endif -%}
{%- endmacro %}


{#- The Gemini model of the request model whose relation is `request_relation`: its meta.vertex_batch.model,
    else var `vertex_batch_model`. -#}
{% macro request_gemini_model(request_relation) %}
    {%- set settings = vertex_batch._request_settings(request_relation) -%}
    {{- return((settings.get('model') or var('vertex_batch_model', 'gemini-2.5-flash')) | string) -}}
{% endmacro %}


{#- The price-table name of a model (vertex_batch.costs.model_key): no `publishers/google/models/` prefix,
    `@version` or `-00N` suffix, lower case. -#}
{% macro _price_key(model) %}
    {%- set name = ((model | string).split('/') | last).split('@') | first -%}
    {{- return(modules.re.sub('-[0-9]{3}$', '', name | trim | lower)) -}}
{% endmacro %}
