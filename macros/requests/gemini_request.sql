{#- Build a Gemini `GenerateContentRequest` as a BigQuery JSON expression, one per row.

    Text arguments (`prompt`, parts, `role`, `system_instruction`) are SQL expressions: pass a column name,
    any STRING expression, or a quoted literal (`vertex_batch.quote_text('...')`). Configuration arguments
    (`generation_config`, `safety_settings`, `labels`, `tools`, `tool_config`) take a Jinja value (mapping
    or list, written into the request as JSON exactly) or a string holding a SQL expression of type JSON.

    NULL handling: when the prompt or any required part is NULL, `contents` is an empty array. The
    `vertex_batch.non_empty_request_contents` test reports such rows before a job is submitted, and the
    service answers them with a 400 INVALID_ARGUMENT row: a NULL prompt never becomes an empty text request. -#}
{% macro gemini_request(prompt=none, parts=none, contents=none, role="'user'", system_instruction=none,
                        generation_config=none, safety_settings=none, labels=none, tools=none,
                        tool_config=none, extra=none) -%}
    {{- return(adapter.dispatch('gemini_request', 'vertex_batch')(
        prompt=prompt, parts=parts, contents=contents, role=role, system_instruction=system_instruction,
        generation_config=generation_config, safety_settings=safety_settings, labels=labels, tools=tools,
        tool_config=tool_config, extra=extra)) -}}
{% endmacro %}

{% macro default__gemini_request(prompt, parts, contents, role, system_instruction, generation_config,
                                 safety_settings, labels, tools, tool_config, extra) -%}
    {{- vertex_batch._unsupported('gemini_request') -}}
{% endmacro %}

{#- BigQuery: JSON_OBJECT / JSON_ARRAY / PARSE_JSON keep key names, key order and number types exactly. -#}
{% macro bigquery__gemini_request(prompt, parts, contents, role, system_instruction, generation_config,
                                  safety_settings, labels, tools, tool_config, extra) -%}
    {%- set members = [] -%}
    {%- if contents is not none -%}
        {%- do members.append(("contents", contents)) -%}
    {%- else -%}
        {%- if prompt is none and parts is none -%}
            {{ exceptions.raise_compiler_error("vertex_batch.gemini_request needs `prompt`, `parts` or `contents`") }}
        {%- endif -%}
        {%- set part_specs = ([prompt] if prompt is not none else []) + (vertex_batch._as_list(parts) if parts is not none else []) -%}
        {%- do members.append(("contents", vertex_batch.request_contents(part_specs, role=role))) -%}
    {%- endif -%}
    {%- if system_instruction is not none -%}
        {%- do members.append(("systemInstruction", vertex_batch.system_instruction(system_instruction))) -%}
    {%- endif -%}
    {%- if generation_config is not none -%}
        {%- do members.append(("generationConfig", vertex_batch.generation_config(generation_config))) -%}
    {%- endif -%}
    {%- if safety_settings is not none -%}
        {%- do members.append(("safetySettings", vertex_batch.safety_settings(safety_settings))) -%}
    {%- endif -%}
    {%- if tools is not none -%}
        {%- do members.append(("tools", vertex_batch._as_json_sql(tools))) -%}
    {%- endif -%}
    {%- if tool_config is not none -%}
        {%- do members.append(("toolConfig", vertex_batch._as_json_sql(tool_config))) -%}
    {%- endif -%}
    {%- if labels is not none -%}
        {%- do members.append(("labels", vertex_batch._as_json_sql(labels))) -%}
    {%- endif -%}
    {%- for name, value in (extra or {}).items() -%}
        {%- do members.append((name, vertex_batch._as_json_sql(value))) -%}
    {%- endfor -%}
    json_object(
    {%- for name, value in members %}
        {{ vertex_batch._string_literal(name) }}, {{ value }}{{ "," if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}


{#- The `contents` array of a single-turn request: one `{"role": role, "parts": [...]}` entry, or `[]` when a
    required part is NULL. `part_specs` items: a SQL text expression, or a mapping made by
    `vertex_batch.text_part(..)` / `vertex_batch.file_part(..)` / `{'json': <SQL JSON part>}`, each
    with an optional `optional: true` (a NULL optional part is left out). -#}
{% macro request_contents(part_specs, role="'user'") %}
    {{- return(adapter.dispatch('request_contents', 'vertex_batch')(part_specs, role=role)) -}}
{% endmacro %}

{% macro default__request_contents(part_specs, role) -%}
    {{- vertex_batch._unsupported('request_contents') -}}
{% endmacro %}

{% macro bigquery__request_contents(part_specs, role) -%}
    {%- set required_nulls = [] -%}
    {%- set part_sqls = [] -%}
    {%- set has_optional = [] -%}
    {%- for spec in part_specs -%}
        {%- set part = vertex_batch._part_sql(spec) -%}
        {%- if part.optional -%}
            {%- do has_optional.append(true) -%}
            {%- do part_sqls.append("if((" ~ part.value ~ ") is null, null, " ~ part.json ~ ")") -%}
        {%- else -%}
            {%- do required_nulls.append("(" ~ part.value ~ ") is null") -%}
            {%- do part_sqls.append(part.json) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if has_optional -%}
        {#- Optional parts: drop NULL ones, keep order. -#}
        {%- set parts_json -%}
            to_json(array(
                select _vb_part from unnest([{{ part_sqls | join(", ") }}]) as _vb_part with offset as _vb_offset
                where _vb_part is not null order by _vb_offset))
        {%- endset -%}
    {%- else -%}
        {%- set parts_json = "json_array(" ~ (part_sqls | join(", ")) ~ ")" -%}
    {%- endif -%}
    {%- if role is none -%}
        {%- set entry = "json_array(json_object('parts', " ~ parts_json ~ "))" -%}
    {%- else -%}
        {%- set entry = "json_array(json_object('role', " ~ role ~ ", 'parts', " ~ parts_json ~ "))" -%}
    {%- endif -%}
    {%- if required_nulls -%}
        if({{ required_nulls | join(" or ") }}, json_array(), {{ entry }})
    {%- else -%}
        {{ entry }}
    {%- endif -%}
{%- endmacro %}

{#- One part spec -> {value: SQL that is NULL when the part is missing, json: SQL of the part, optional}. -#}
{% macro _part_sql(spec) %}
    {%- if spec is string -%}
        {%- set spec = {'text': spec} -%}
    {%- endif -%}
    {%- if spec.text is defined and spec.text is not none -%}
        {{ return({'value': spec.text, 'json': "json_object('text', " ~ spec.text ~ ")", 'optional': spec.get('optional', false)}) }}
    {%- elif spec.file_uri is defined and spec.file_uri is not none -%}
        {%- set mime = spec.get('mime_type') -%}
        {%- if mime is none -%}
            {{ exceptions.raise_compiler_error("vertex_batch: a file part needs `mime_type` (e.g. \"'image/jpeg'\" or a column): " ~ spec) }}
        {%- endif -%}
        {%- set json -%}
            json_object('fileData', json_object('fileUri', {{ spec.file_uri }}, 'mimeType', {{ mime }}))
        {%- endset -%}
        {{ return({'value': spec.file_uri, 'json': json, 'optional': spec.get('optional', false)}) }}
    {%- elif spec.json is defined and spec.json is not none -%}
        {{ return({'value': spec.json, 'json': spec.json, 'optional': spec.get('optional', false)}) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("vertex_batch: a part is a SQL text expression or a mapping with `text`, `file_uri` + `mime_type`, or `json`; got " ~ spec) }}
    {%- endif -%}
{% endmacro %}

{#- Part specs for `gemini_request(parts=[...])`. -#}
{% macro text_part(text, optional=false) %}
    {{- return({'text': text, 'optional': optional}) -}}
{% endmacro %}

{% macro file_part(file_uri, mime_type, optional=false) %}
    {{- return({'file_uri': file_uri, 'mime_type': mime_type, 'optional': optional}) -}}
{% endmacro %}


{#- `systemInstruction`: `{"parts": [{"text": <text>}]}`; NULL text -> JSON null (no instruction). -#}
{% macro system_instruction(text) %}
    {{- return(adapter.dispatch('system_instruction', 'vertex_batch')(text)) -}}
{% endmacro %}

{% macro default__system_instruction(text) -%}
    {{- vertex_batch._unsupported('system_instruction') -}}
{% endmacro %}

{% macro bigquery__system_instruction(text) -%}
    if(({{ text }}) is null, null, json_object('parts', json_array(json_object('text', {{ text }}))))
{%- endmacro %}


{#- `generationConfig`: a mapping (snake_case top-level keys such as `max_output_tokens` and the keys of
    `thinking_config` become camelCase; `responseSchema` is kept as written) or a SQL JSON expression. -#}
{% macro generation_config(config) %}
    {{- return(adapter.dispatch('generation_config', 'vertex_batch')(config)) -}}
{% endmacro %}

{% macro default__generation_config(config) -%}
    {%- if config is string -%}
        {{- return(config) -}}
    {%- endif -%}
    {%- set camel = {} -%}
    {%- for name, value in config.items() -%}
        {%- set key = vertex_batch._camel_case(name) -%}
        {%- if key == 'thinkingConfig' and value is mapping -%}
            {%- set thinking = {} -%}
            {%- for inner, inner_value in value.items() -%}
                {%- do thinking.update({vertex_batch._camel_case(inner): inner_value}) -%}
            {%- endfor -%}
            {%- do camel.update({key: thinking}) -%}
        {%- else -%}
            {%- do camel.update({key: value}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(vertex_batch._json_literal(camel)) -}}
{% endmacro %}

{% macro _camel_case(name) %}
    {%- set words = name.split('_') -%}
    {%- set ns = namespace(out=words[0]) -%}
    {%- for word in words[1:] -%}
        {%- set ns.out = ns.out ~ (word[:1] | upper) ~ word[1:] -%}
    {%- endfor -%}
    {{- return(ns.out) -}}
{% endmacro %}


{#- `safetySettings`: a list of `{'category': ..., 'threshold': ...}`, a mapping category -> threshold, or a
    SQL JSON expression. -#}
{% macro safety_settings(settings) %}
    {{- return(adapter.dispatch('safety_settings', 'vertex_batch')(settings)) -}}
{% endmacro %}

{% macro default__safety_settings(settings) -%}
    {%- if settings is string -%}
        {{- return(settings) -}}
    {%- elif settings is mapping -%}
        {%- set items = [] -%}
        {%- for category, threshold in settings.items() -%}
            {%- do items.append({'category': category, 'threshold': threshold}) -%}
        {%- endfor -%}
        {{- return(vertex_batch._json_literal(items)) -}}
    {%- else -%}
        {{- return(vertex_batch._json_literal(settings | list)) -}}
    {%- endif -%}
{% endmacro %}


{#- A BigQuery string literal for a constant text, e.g. a fixed system instruction. -#}
{% macro quote_text(text) %}
    {{- return(adapter.dispatch('quote_text', 'vertex_batch')(text)) -}}
{% endmacro %}

{% macro default__quote_text(text) -%}
    {{- return(vertex_batch._string_literal(text)) -}}
{% endmacro %}
