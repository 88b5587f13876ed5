{#- Typed columns from a JSON answer (structured output, `responseMimeType: application/json`).

    `text` is a SQL STRING expression (e.g. `response_text`); `fields` maps an output column name (also
    the JSON member name) to STRING, INT64, FLOAT64, NUMERIC, BOOL, JSON or ARRAY<STRING|INT64|FLOAT64|BOOL>.
    Emits `<expr> as <name>, ..., <expr> as parse_error` (no trailing comma). Values are SAFE-cast: a value
    that does not fit its type gives NULL and sets `parse_error`; so does text that is not a JSON object
    (a ```json fence around it is accepted). A missing member gives NULL without an error. `parse_error`
    is NULL when `text` is NULL. -#}
{% macro structured_columns(text, fields, parse_error_column='parse_error', prefix='') %}
    {{- return(adapter.dispatch('structured_columns', 'vertex_batch')(text, fields, parse_error_column, prefix)) -}}
{% endmacro %}

{% macro default__structured_columns(text, fields, parse_error_column, prefix) -%}
    {{- vertex_batch._unsupported('structured_columns') -}}
{% endmacro %}

{% macro bigquery__structured_columns(text, fields, parse_error_column, prefix) -%}
    {%- set parsed = vertex_batch.parse_json_answer(text) -%}
    {%- set checks = [] -%}
    {%- for name, type in fields.items() %}
    {%- set path = vertex_batch._json_path(name) -%}
    {%- set value = vertex_batch._typed_json_value(parsed, path, type) -%}
    {%- set member = "json_query(" ~ parsed ~ ", '" ~ path ~ "')" -%}
    {%- do checks.append("(" ~ member ~ " is not null and json_type(" ~ member ~ ") != 'null' and " ~ value ~ " is null)") %}
    {{ value }} as {{ adapter.quote(prefix ~ name) }},
    {%- endfor %}
    case
        when ({{ text }}) is null then null
        when {{ parsed }} is null or json_type({{ parsed }}) != 'object' then true
        else {{ (checks | join("\n            or ")) if checks else "false" }}
    end as {{ adapter.quote(prefix ~ parse_error_column) }}
{%- endmacro %}


{#- A model's text answer -> JSON (NULL when it is not JSON); a surrounding ``` / ```json fence is removed. -#}
{% macro parse_json_answer(text) %}
    {{- return(adapter.dispatch('parse_json_answer', 'vertex_batch')(text)) -}}
{% endmacro %}

{% macro default__parse_json_answer(text) -%}
    {{- vertex_batch._unsupported('parse_json_answer') -}}
{% endmacro %}

{% macro bigquery__parse_json_answer(text) -%}
    {{- "safe.parse_json(regexp_replace(" ~ text ~ ", r'^\\s*```(?:json|JSON)?\\s*|\\s*```\\s*$', ''))" -}}
{%- endmacro %}


{% macro _typed_json_value(parsed, path, type) %}
    {%- set t = type | upper | replace(' ', '') -%}
    {%- if t == 'STRING' -%}
        {{- return("json_value(" ~ parsed ~ ", '" ~ path ~ "')") -}}
    {%- elif t in ('INT64', 'FLOAT64', 'NUMERIC', 'BIGNUMERIC', 'BOOL', 'DATE', 'TIMESTAMP') -%}
        {{- return("safe_cast(json_value(" ~ parsed ~ ", '" ~ path ~ "') as " ~ t ~ ")") -}}
    {%- elif t == 'JSON' -%}
        {{- return("json_query(" ~ parsed ~ ", '" ~ path ~ "')") -}}
    {%- elif t.startswith('ARRAY<') and t.endswith('>') -%}
        {%- set inner = t[6:-1] -%}
        {#- An array of scalars only (BigQuery arrays cannot hold NULL); every element must cast, else the
            whole array is NULL and parse_error is set. -#}
        {%- set items = vertex_batch._json_array_at(parsed, path) -%}
        {%- set scalars -%}
            json_type(json_query({{ parsed }}, '{{ path }}')) = 'array'
            and not exists(select 1 from unnest(json_query_array({{ items }})) as _vb_item
                           where json_type(_vb_item) in ('object', 'array', 'null'))
        {%- endset -%}
        {%- if inner == 'STRING' -%}
            {{- return("if(" ~ scalars ~ ", json_value_array(" ~ items ~ "), null)") -}}
        {%- else -%}
            {%- set cast_ok = "not exists(select 1 from unnest(json_value_array(" ~ items ~ ")) as _vb_value where safe_cast(_vb_value as " ~ inner ~ ") is null)" -%}
            {{- return("if(" ~ scalars ~ " and " ~ cast_ok ~ ", array(select safe_cast(_vb_value as " ~ inner ~ ") from unnest(json_value_array(" ~ items ~ ")) as _vb_value with offset as _vb_offset order by _vb_offset), null)") -}}
        {%- endif -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("vertex_batch.structured_columns: unsupported type '" ~ type ~ "' (use STRING, INT64, FLOAT64, NUMERIC, BOOL, DATE, TIMESTAMP, JSON or ARRAY<...>)") }}
    {%- endif -%}
{% endmacro %}
