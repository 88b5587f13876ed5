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


{#- `modelVersion` of the response (the model id with a version, e.g. `<model>-001@default`). -#}
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


{#- The cost in USD of one answered row of `model` (a model name as meta.vertex_batch.model takes it), from its
    billable counts (its family's usage fields), the catalog's price in force at `processed_time` (a TIMESTAMP
    expression), the prompt-size tier, and what `lane` (a SQL expression: 'batch', 'flex' or 'online') pays of
    the standard price; cache prices and whether they stack with the lane's discount come from the catalog.
    The formula is vertex_batch/costs.py's, generated into `_catalog()` from vertex_batch/catalog.toml, the
    same one the runner's ledger sums. NULL for a response without usage, and for a model the catalog does not
    price (a one-line warning at compile time). -#}
{% macro cost_usd(response, model, processed_time='processed_time', lane="'batch'") %}
    {{- return(adapter.dispatch('cost_usd', 'vertex_batch')(response, model, processed_time, lane)) -}}
{% endmacro %}

{% macro default__cost_usd(response, model, processed_time, lane) -%}
    {{- vertex_batch._unsupported('cost_usd') -}}
{% endmacro %}

{% macro bigquery__cost_usd(response, model, processed_time, lane) -%}
    {%- set entry = vertex_batch._catalog_model(model) -%}
    {%- if entry is none or entry.cost is none -%}
        {%- if execute -%}
            {{- log("warning: no price for model '" ~ model ~ "' in the model catalog; cost_usd is NULL", info=true) -}}
        {%- endif -%}
        cast(null as float64)
    {%- else -%}
        {%- set family = vertex_batch._catalog()['families'][entry.family] -%}
        {%- set sql = namespace(text=entry.cost) -%}
        {%- for name, expression in family.usage.items() -%}
            {%- set sql.text = sql.text | replace('{' ~ name ~ '}', '(' ~ (expression | replace('{r}', response)) ~ ')') -%}
        {%- endfor -%}
        if(json_query({{ response }}, '{{ family.usage_path }}') is null, null,
           {{ sql.text | replace('{processed_time}', processed_time) | replace('{lane}', lane) }})
    {%- endif -%}
{%- endmacro %}


{#- The lane of a landed row from its `batch_job_name` (vertex_batch/landing.py's LANE_PREFIXES): 'flex' or
    'online' for rows answered outside a batch job, else 'batch'. -#}
{% macro lane_of(batch_job_name) %}
    {%- set cases = [] -%}
    {%- for lane, prefix in vertex_batch._catalog()['lane_prefixes'].items() -%}
        {%- do cases.append("when starts_with(" ~ batch_job_name ~ ", '" ~ prefix ~ "') then '" ~ lane ~ "'") -%}
    {%- endfor -%}
    {{- return("(case " ~ (cases | join(" ")) ~ " else 'batch' end)") -}}
{% endmacro %}


{#- The model of the request model whose relation is `request_relation`: its meta.vertex_batch.model, else var
    `vertex_batch_model`, else the catalog's default model. -#}
{% macro request_model_name(request_relation) %}
    {%- set settings = vertex_batch._request_settings(request_relation) -%}
    {{- return((settings.get('model') or vertex_batch._default_model()) | string) -}}
{% endmacro %}


{#- The model a request model uses when it names none: var `vertex_batch_model`, else the catalog's default. -#}
{% macro _default_model() %}
    {{- return(var('vertex_batch_model', vertex_batch._catalog()['default_model'])) -}}
{% endmacro %}


{#- The catalog's entry of a model name (vertex_batch.catalog.model_name / base_name: no
    `[projects/P/locations/L/]publishers/X/models/` prefix; then without `@version` and `-00N`), or none. -#}
{% macro _catalog_model(model) %}
    {%- set models = vertex_batch._catalog()['models'] -%}
    {%- set name = vertex_batch._model_name(model) | lower -%}
    {%- set unversioned = name.split('@') | first -%}
    {%- for candidate in [name, unversioned, modules.re.sub('-[0-9]{3}$', '', unversioned)] -%}
        {%- if candidate in models -%}
            {{ return(models[candidate]) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}


{#- A model name without its `[projects/P/locations/L/]publishers/X/models/` prefix (vertex_batch.catalog.model_name). -#}
{% macro _model_name(model) %}
    {{- return(modules.re.sub('^(projects/[^/]+/locations/[^/]+/)?publishers/[^/]+/models/', '', (model | string) | trim)) -}}
{% endmacro %}
