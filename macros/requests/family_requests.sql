{#- Request builders for every generating family, and `prompt_request`, which builds the body of whichever family the
    request model's model belongs to (the model catalog says which), so that changing `meta.vertex_batch.model`
    is a one-line change. Text arguments are SQL STRING expressions (a column, any expression, or
    `vertex_batch.quote_text('...')`); `response_schema` is a JSON Schema as a Jinja mapping.

    Production's bodies (docs.cloud.google.com/gemini-enterprise-agent-platform, read 2026-12-03):
    - Claude (partner-models/claude/batch): an Anthropic Messages body with "anthropic_version":
      "vertex-2023-10-16" and no `model`; `max_tokens` is required. Claude 5.x thinks with
      {"thinking": {"type": "adaptive"}, "output_config": {"effort": ...}} (platform.claude.com effort docs; the
      budget form is refused by Claude 4.7 and later). Structured output: output_config.format json_schema.
    - Open models (maas/capabilities/batch-prediction): an OpenAI chat-completions body; `model` is not used.
      Structured output: response_format json_schema; thinking: reasoning_effort.
    - Gemini: vertex_batch.gemini_request (generationConfig.thinkingConfig.thinkingLevel, responseJsonSchema). -#}

{#- The `anthropic_version` every Claude body on Vertex AI carries. -#}
{% macro _anthropic_version() %}
    {{- return('vertex-2023-10-16') -}}
{% endmacro %}


{#- The model of the request model being built: `model` when given, else its own meta.vertex_batch.model, else
    var `vertex_batch_model`, else the catalog's default. While dbt parses (no config yet) the default. -#}
{% macro _own_model(model=none) %}
    {%- if model is not none -%}
        {{ return(model | string) }}
    {%- endif -%}
    {%- set meta = config.get('meta') if execute else none -%}
    {%- set settings = (meta.get('vertex_batch') or {}) if meta is mapping else {} -%}
    {{ return((settings.get('model') or vertex_batch._default_model()) | string) }}
{% endmacro %}


{#- The family of `model` in the catalog; for a model the catalog does not know, meta.vertex_batch.family of the
    request model being built, else 'gemini'. -#}
{% macro model_family(model) %}
    {%- set entry = vertex_batch._catalog_model(model) -%}
    {%- if entry is not none -%}
        {{ return(entry.family) }}
    {%- endif -%}
    {%- set meta = config.get('meta') if execute else none -%}
    {%- set settings = (meta.get('vertex_batch') or {}) if meta is mapping else {} -%}
    {{ return(settings.get('family') or 'gemini') }}
{% endmacro %}


{#- A JSON object from (name, SQL JSON-or-scalar expression) pairs, leaving out the members whose value is none
    (Jinja), so only what a caller set is sent. -#}
{% macro _json_members(members) %}
    {%- set kept = [] -%}
    {%- for name, value in members if value is not none -%}
        {%- do kept.append(vertex_batch._string_literal(name) ~ ", " ~ value) -%}
    {%- endfor -%}
    {{- return("json_object(" ~ (kept | join(", ")) ~ ")") -}}
{% endmacro %}


{#- A single user turn `[{"role": "user", "content": <prompt>}]` (chat-style families). -#}
{% macro _user_turn(prompt) %}
    {{- return("json_array(json_object('role', 'user', 'content', " ~ prompt ~ "))") -}}
{% endmacro %}


{#- A Claude Messages body (BigQuery JSON). `prompt` (a single user turn) or `messages` (a SQL JSON array or a
    Jinja list) is required; `max_tokens` defaults to the model's output limit from the catalog (`model`: the
    request model's own, see prompt_request). `effort` (low, medium, high, xhigh, max) turns on adaptive thinking;
    `thinking` (a mapping or SQL JSON) sets it as given. -#}
{% macro claude_request(prompt=none, messages=none, system=none, max_tokens=none, temperature=none, top_p=none,
                        top_k=none, stop_sequences=none, effort=none, thinking=none, response_schema=none,
                        extra=none, model=none) -%}
    {%- if prompt is none and messages is none -%}
        {{ exceptions.raise_compiler_error("vertex_batch.claude_request needs `prompt` or `messages`") }}
    {%- endif -%}
    {%- set cap = max_tokens -%}
    {%- if cap is none -%}
        {%- set entry = vertex_batch._catalog_model(vertex_batch._own_model(model)) -%}
        {%- set cap = entry.max_output_tokens if entry is not none else none -%}
    {%- endif -%}
    {%- if cap is none -%}
        {{ exceptions.raise_compiler_error("vertex_batch.claude_request needs `max_tokens`: Claude requires it and the model catalog has no output limit for " ~ vertex_batch._own_model(model)) }}
    {%- endif -%}
    {%- set output_config = [] -%}
    {%- if effort is not none -%}
        {%- do output_config.append(('effort', vertex_batch._string_literal(effort | lower))) -%}
    {%- endif -%}
    {%- if response_schema is not none -%}
        {%- do output_config.append(('format', vertex_batch._json_literal({'type': 'json_schema', 'schema': response_schema}))) -%}
    {%- endif -%}
    {%- set members = [
        ('anthropic_version', vertex_batch._string_literal(vertex_batch._anthropic_version())),
        ('max_tokens', cap | int),
        ('messages', vertex_batch._user_turn(prompt) if messages is none else vertex_batch._as_json_sql(messages)),
        ('system', system),
        ('temperature', temperature),
        ('top_p', top_p),
        ('top_k', top_k),
        ('stop_sequences', none if stop_sequences is none else vertex_batch._as_json_sql(stop_sequences)),
        ('thinking', vertex_batch._as_json_sql(thinking) if thinking is not none
            else (vertex_batch._json_literal({'type': 'adaptive'}) if effort is not none else none)),
        ('output_config', vertex_batch._json_members(output_config) if output_config else none)] -%}
    {%- for name, value in (extra or {}).items() -%}
        {%- do members.append((name, vertex_batch._as_json_sql(value))) -%}
    {%- endfor -%}
    json_strip_nulls({{ vertex_batch._json_members(members) }})
{%- endmacro %}


{#- An OpenAI chat-completions body (BigQuery JSON) for open models. `prompt` (a single user turn, after the
    `system` message when given) or `messages` is required. `reasoning_effort` (low, medium, high) for models
    that think; `response_schema` asks for JSON of that schema. -#}
{% macro chat_request(prompt=none, messages=none, system=none, max_tokens=none, temperature=none, top_p=none,
                      stop=none, seed=none, reasoning_effort=none, response_schema=none, extra=none) -%}
    {%- if prompt is none and messages is none -%}
        {{ exceptions.raise_compiler_error("vertex_batch.chat_request needs `prompt` or `messages`") }}
    {%- endif -%}
    {%- if messages is not none -%}
        {%- set turns = vertex_batch._as_json_sql(messages) -%}
    {%- elif system is not none -%}
        {%- set turns = "json_array(json_object('role', 'system', 'content', " ~ system ~ "), json_object('role', 'user', 'content', " ~ prompt ~ "))" -%}
    {%- else -%}
        {%- set turns = vertex_batch._user_turn(prompt) -%}
    {%- endif -%}
    {%- set members = [
        ('messages', turns),
        ('max_tokens', none if max_tokens is none else max_tokens | int),
        ('temperature', temperature),
        ('top_p', top_p),
        ('stop', none if stop is none else vertex_batch._as_json_sql(stop)),
        ('seed', seed),
        ('reasoning_effort', none if reasoning_effort is none else vertex_batch._string_literal(reasoning_effort | lower)),
        ('response_format', none if response_schema is none else vertex_batch._json_literal(
            {'type': 'json_schema', 'json_schema': {'name': 'response', 'schema': response_schema}}))] -%}
    {%- for name, value in (extra or {}).items() -%}
        {%- do members.append((name, vertex_batch._as_json_sql(value))) -%}
    {%- endfor -%}
    json_strip_nulls({{ vertex_batch._json_members(members) }})
{%- endmacro %}


{#- One prompt, the body of the request model's family: Gemini (gemini_request), Claude (claude_request) or
    open models (chat_request), chosen by the model (`model`, else the request model's own
    meta.vertex_batch.model, else var `vertex_batch_model`). `thinking_level` (minimal, low, medium, high, ...)
    becomes Gemini's thinkingLevel, Claude's adaptive thinking effort or reasoning_effort; `max_output_tokens`
    Gemini's maxOutputTokens or `max_tokens`; `response_schema` (a JSON Schema mapping) each family's structured
    output. -#}
{% macro prompt_request(prompt, system_instruction=none, max_output_tokens=none, temperature=none,
                        response_schema=none, thinking_level=none, model=none) -%}
    {%- set own = vertex_batch._own_model(model) -%}
    {%- set family = vertex_batch.model_family(own) -%}
    {%- if family == 'claude' -%}
        {{- vertex_batch.claude_request(prompt=prompt, system=system_instruction, max_tokens=max_output_tokens,
                                        temperature=temperature, effort=thinking_level,
                                        response_schema=response_schema, model=own) -}}
    {%- elif family == 'chat-completions' -%}
        {{- vertex_batch.chat_request(prompt=prompt, system=system_instruction, max_tokens=max_output_tokens,
                                      temperature=temperature, reasoning_effort=thinking_level,
                                      response_schema=response_schema) -}}
    {%- elif family == 'gemini' -%}
        {%- set config = {} -%}
        {%- if max_output_tokens is not none -%}{%- do config.update({'maxOutputTokens': max_output_tokens | int}) -%}{%- endif -%}
        {%- if temperature is not none -%}{%- do config.update({'temperature': temperature}) -%}{%- endif -%}
        {%- if response_schema is not none -%}
            {%- do config.update({'responseMimeType': 'application/json', 'responseJsonSchema': response_schema}) -%}
        {%- endif -%}
        {%- if thinking_level is not none -%}
            {%- do config.update({'thinkingConfig': {'thinkingLevel': thinking_level | upper}}) -%}
        {%- endif -%}
        {{- vertex_batch.gemini_request(prompt=prompt, system_instruction=system_instruction,
                                        generation_config=config if config else none) -}}
    {%- else -%}
        {{ exceptions.raise_compiler_error("vertex_batch.prompt_request: " ~ own ~ " is a " ~ family ~ " model; an embeddings request model selects `content` (and optionally `task_type`, `title`) instead of a request") }}
    {%- endif -%}
{%- endmacro %}
