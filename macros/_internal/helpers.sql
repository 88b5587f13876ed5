{#- Private helpers of the vertex_batch package. Names start with `_` so they never collide with a
    project's own macros; they are not part of the documented interface. -#}

{#- Raise a clear error where a macro has no implementation for the current adapter. -#}
{% macro _unsupported(macro_name) %}
    {{ exceptions.raise_compiler_error(
        "vertex_batch." ~ macro_name ~ " is implemented for BigQuery only (this target's adapter is '"
        ~ adapter.type() ~ "'). Override it with a `" ~ adapter.type() ~ "__" ~ macro_name
        ~ "` macro and a dispatch config if you need another warehouse.") }}
{% endmacro %}

{#- A string or a list of strings -> a list of strings. -#}
{% macro _as_list(value) %}
    {%- if value is none -%}
        {{ return([]) }}
    {%- elif value is string -%}
        {{ return([value]) }}
    {%- else -%}
        {{ return(value | list) }}
    {%- endif -%}
{% endmacro %}

{#- A BigQuery string literal holding `text` exactly (backslashes, quotes and line breaks escaped). -#}
{% macro _string_literal(text) %}
    {%- set escaped = (text | string)
        | replace('\\', '\\\\')
        | replace("'", "\\'")
        | replace('\n', '\\n')
        | replace('\r', '\\r') -%}
    {{- return("'" ~ escaped ~ "'") -}}
{% endmacro %}

{#- A Jinja value (mapping, list, number, boolean, string) -> a SQL expression of type JSON holding it
    exactly. PARSE_JSON of a literal is used instead of a `JSON '...'` literal: the BigQuery emulator
    cannot access fields of JSON literals, and both forms are equal on BigQuery. -#}
{% macro _json_literal(value) %}
    {{- return("parse_json(" ~ vertex_batch._string_literal(tojson(value)) ~ ")") -}}
{% endmacro %}

{#- A request-builder argument -> a SQL expression: a string is taken as SQL already (a column, a
    JSON expression); any other value (mapping, list, number, boolean) becomes a JSON literal. -#}
{% macro _as_json_sql(value) %}
    {%- if value is string -%}
        {{- return(value) -}}
    {%- else -%}
        {{- return(vertex_batch._json_literal(value)) -}}
    {%- endif -%}
{% endmacro %}

{#- A JSONPath for one object member: `$.name`, or `$."name"` where the name needs quoting. -#}
{% macro _json_path(name) %}
    {%- if modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', name) -%}
        {{- return("$." ~ name) -}}
    {%- else -%}
        {{- return('$."' ~ (name | replace('"', '\\"')) ~ '"') -}}
    {%- endif -%}
{% endmacro %}

{#- The key columns of a request model: the `key` argument when given, else `meta.vertex_batch.key` of
    the model whose relation is `relation` (looked up in the graph), else `request_fingerprint`. -#}
{% macro _request_key(relation, key=none) %}
    {%- if key is not none -%}
        {{ return(vertex_batch._as_list(key)) }}
    {%- endif -%}
    {%- if execute and relation is not string and relation.identifier is defined -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model'
                and (node.alias or node.name) | lower == (relation.identifier or '') | lower
                and (node.schema or '') | lower == (relation.schema or '') | lower -%}
                {%- set meta = node.config.get('meta', {}) or node.get('meta', {}) or {} -%}
                {%- set settings = meta.get('vertex_batch', {}) or {} -%}
                {%- if settings.get('key') -%}
                    {{ return(vertex_batch._as_list(settings.get('key'))) }}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(['request_fingerprint']) }}
{% endmacro %}

{#- `a.k1 = b.k1 and a.k2 = b.k2 ...` for a list of columns. -#}
{% macro _join_on(columns, left, right) %}
    {%- set conditions = [] -%}
    {%- for column in columns -%}
        {%- do conditions.append(left ~ "." ~ column ~ " = " ~ right ~ "." ~ column) -%}
    {%- endfor -%}
    {{- return(conditions | join(" and ")) -}}
{% endmacro %}

{#- The JSON array at `path` of `json_expr`, or an empty JSON array when the value there is missing or not
    an array. BigQuery's JSON_QUERY_ARRAY / JSON_VALUE_ARRAY return NULL for a non-array; the BigQuery
    emulator raises "Expected ARRAY" instead, so the value is checked first (same result on both). -#}
{% macro _json_array_at(json_expr, path) %}
    {{- return("if(json_type(json_query(" ~ json_expr ~ ", '" ~ path ~ "')) = 'array', json_query("
               ~ json_expr ~ ", '" ~ path ~ "'), json_array())") -}}
{% endmacro %}
