{#- Fields of an answer (the `response` JSON column of a landed row) for every generating family: a Gemini
    `GenerateContentResponse`, a Claude `Message` or an OpenAI `chat.completion`; `family` is the model's family
    (vertex_batch.request_family(relation) gives a request model's), 'gemini' by default. Each macro takes a SQL
    expression of type JSON and returns a typed SQL expression of the same type for every family, so results of
    different families union by position; a NULL response (a request not answered yet) gives NULL. -#}

{#- The family of the request model whose relation is `request_relation`: its model's family in the catalog, else
    its meta.vertex_batch.family, else 'gemini'. -#}
{% macro request_family(request_relation) %}
    {%- set settings = vertex_batch._request_settings(request_relation) -%}
    {%- set entry = vertex_batch._catalog_model(settings.get('model') or vertex_batch._default_model()) -%}
    {{- return(entry.family if entry is not none else (settings.get('family') or 'gemini')) -}}
{% endmacro %}


{#- The answer's text: Gemini's text parts of the first candidate (thought summaries, `"thought": true`, left
    out), Claude's text blocks (thinking blocks left out), the first choice's message content; joined with ''.
    NULL when there is no text (e.g. an error row). -#}
{% macro response_text(response, family='gemini') %}
    {{- return(adapter.dispatch('response_text', 'vertex_batch')(response, family)) -}}
{% endmacro %}

{% macro default__response_text(response, family) -%}
    {{- vertex_batch._unsupported('response_text') -}}
{% endmacro %}

{#- BigQuery: UNNEST ... WITH OFFSET keeps the part order (JSON arrays have no other order key). -#}
{% macro bigquery__response_text(response, family) -%}
    {%- if family == 'claude' -%}
    (select string_agg(json_value(_vb_block, '$.text'), '' order by _vb_offset)
     from unnest(json_query_array({{ vertex_batch._json_array_at(response, '$.content') }})) as _vb_block
         with offset as _vb_offset
     where json_value(_vb_block, '$.type') = 'text')
    {%- elif family == 'chat-completions' -%}
    json_value({{ response }}, '$.choices[0].message.content')
    {%- else -%}
    (select string_agg(json_value(_vb_part, '$.text'), '' order by _vb_offset)
     from unnest(json_query_array({{ vertex_batch._json_array_at(response, '$.candidates[0].content.parts') }})) as _vb_part
         with offset as _vb_offset
     where coalesce(json_value(_vb_part, '$.thought'), 'false') != 'true')
    {%- endif -%}
{%- endmacro %}


{#- Finish reasons of every family, normalised: STOP (Gemini STOP, Claude end_turn / stop_sequence, chat stop),
    MAX_TOKENS (MAX_TOKENS, max_tokens, model_context_window_exceeded, length), SAFETY (Gemini's safety reasons,
    Claude's refusal, chat's content_filter); any other reason is OTHER. -#}
{% macro _finish_reasons() %}
    {{- return({
        'STOP': ['STOP', 'end_turn', 'stop_sequence', 'stop'],
        'MAX_TOKENS': ['MAX_TOKENS', 'max_tokens', 'model_context_window_exceeded', 'length'],
        'SAFETY': ['SAFETY', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'refusal', 'content_filter']}) -}}
{% endmacro %}


{#- The finish reason as the family writes it: Gemini's `finishReason` of the first candidate, Claude's
    `stop_reason`, the first choice's `finish_reason`. -#}
{% macro raw_finish_reason(response, family='gemini') %}
    {%- set paths = {'claude': '$.stop_reason', 'chat-completions': '$.choices[0].finish_reason'} -%}
    {{- return("json_value(" ~ response ~ ", '" ~ paths.get(family, '$.candidates[0].finishReason') ~ "')") -}}
{% endmacro %}


{#- The finish reason normalised across families: STOP, MAX_TOKENS, SAFETY or OTHER (see _finish_reasons). -#}
{% macro finish_reason(response, family='gemini') %}
    {{- return(adapter.dispatch('finish_reason', 'vertex_batch')(response, family)) -}}
{% endmacro %}

{% macro default__finish_reason(response, family) -%}
    {%- set raw = vertex_batch.raw_finish_reason(response, family) -%}
    case
    {%- for normal, reasons in vertex_batch._finish_reasons().items() %}
        when {{ raw }} in ({% for reason in reasons %}{{ vertex_batch._string_literal(reason) }}{{ ", " if not loop.last }}{% endfor %}) then '{{ normal }}'
    {%- endfor %}
        when {{ raw }} is not null then 'OTHER'
    end
{%- endmacro %}


{#- A token count of the answer as INT64: kind = prompt | candidates | thoughts | total | cached_content |
    tool_use_prompt (Gemini also takes the camelCase `usageMetadata` field name). Gemini reads `usageMetadata`
    (the service omits zero counts: 0 for a missing one); other families read their usage through the catalog's
    family expressions (vertex_batch/families.py): Claude's output includes its thinking (thoughts 0), chat
    completions report reasoning tokens apart. NULL for a response without usage. -#}
{% macro token_count(response, kind, family='gemini') %}
    {{- return(adapter.dispatch('token_count', 'vertex_batch')(response, kind, family)) -}}
{% endmacro %}

{% macro default__token_count(response, kind, family) -%}
    {{- vertex_batch._unsupported('token_count') -}}
{% endmacro %}

{% macro bigquery__token_count(response, kind, family) -%}
    {%- if family == 'gemini' -%}
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
    {%- else -%}
    {%- set shape = vertex_batch._catalog()['families'][family] -%}
    {%- set usage = shape.usage -%}
    {%- set name = 'candidates' if kind == 'candidate' else kind -%}
    {%- if name == 'total' -%}
        {%- set expression = '(' ~ usage.prompt ~ ') + (' ~ usage.candidates ~ ') + (' ~ usage.thoughts ~ ')' -%}
    {%- else -%}
        {%- set expression = usage[name] -%}
    {%- endif -%}
    if(json_query({{ response }}, '{{ shape.usage_root }}') is null, null, {{ expression | replace('{r}', response) }})
    {%- endif -%}
{%- endmacro %}


{#- The model version that answered: Gemini's `modelVersion` (the model id with a version, e.g. `<model>-001@default`), the Claude message's
    or the completion's `model`. -#}
{% macro model_version(response, family='gemini') %}
    {{- return(adapter.dispatch('model_version', 'vertex_batch')(response, family)) -}}
{% endmacro %}

{% macro default__model_version(response, family) -%}
    {{- vertex_batch._unsupported('model_version') -}}
{% endmacro %}

{% macro bigquery__model_version(response, family) -%}
    {{ vertex_batch._catalog()['families'][family].model_version | replace('{r}', response) }}
{%- endmacro %}


{#- `avgLogprobs` of the first candidate as FLOAT64 (Gemini; NULL for other families). -#}
{% macro avg_logprobs(response, family='gemini') %}
    {{- return(adapter.dispatch('avg_logprobs', 'vertex_batch')(response, family)) -}}
{% endmacro %}

{% macro default__avg_logprobs(response, family) -%}
    {{- vertex_batch._unsupported('avg_logprobs') -}}
{% endmacro %}

{% macro bigquery__avg_logprobs(response, family) -%}
    {%- if family == 'gemini' -%}
    safe_cast(json_value({{ response }}, '$.candidates[0].avgLogprobs') as float64)
    {%- else -%}
    cast(null as float64)
    {%- endif -%}
{%- endmacro %}


{#- TRUE when the answer was withheld for safety: Gemini's prompt was blocked (`promptFeedback.blockReason`) or
    its first candidate stopped for a safety reason (`reasons`); another family's finish reason normalises to
    SAFETY. FALSE otherwise; NULL for a NULL response. -#}
{% macro safety_blocked(response, reasons=['SAFETY', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY'], family='gemini') %}
    {{- return(adapter.dispatch('safety_blocked', 'vertex_batch')(response, reasons, family)) -}}
{% endmacro %}

{% macro default__safety_blocked(response, reasons, family) -%}
    {{- vertex_batch._unsupported('safety_blocked') -}}
{% endmacro %}

{% macro bigquery__safety_blocked(response, reasons, family) -%}
    {%- if family == 'gemini' -%}
    if(({{ response }}) is null, null, coalesce(
        json_value({{ response }}, '$.promptFeedback.blockReason') is not null
        or json_value({{ response }}, '$.candidates[0].finishReason') in (
            {%- for reason in reasons -%}{{ vertex_batch._string_literal(reason) }}{{ ", " if not loop.last }}{%- endfor -%}),
        false))
    {%- else -%}
    if(({{ response }}) is null, null, coalesce(({{ vertex_batch.finish_reason(response, family) }}) = 'SAFETY', false))
    {%- endif -%}
{%- endmacro %}


{#- The cost in USD of one answered row of `model` (a model name as meta.vertex_batch.model takes it), from its
    billable counts (its family's usage fields), the catalog's price in force at `processed_time` (a TIMESTAMP
    expression), the prompt-size tier, and what `lane` (a SQL expression: 'batch', 'flex' or 'online') pays of
    the standard price; cache prices and whether they stack with the lane's discount come from the catalog.
    The formula is vertex_batch/costs.py's, generated into `_catalog()` from vertex_batch/catalog.toml, the
    same one the runner's ledger sums. NULL for a response without usage (a failed row), and for a model the
    catalog does not price (a one-line warning at compile time). -#}
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
        if(json_query({{ response }}, '{{ family.usage_root }}') is null, null, {{ sql.text | replace('{processed_time}', processed_time) | replace('{lane}', lane) }})
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
