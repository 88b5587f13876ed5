{#- Generic tests for request models, run by `dbt build` before the runner submits a job. Each returns one
    row per bad request, naming its key (the `key` argument, else `meta.vertex_batch.key` of the model,
    else `request_fingerprint`) and what is wrong. Apply them to the `request` column. -#}

{#- Every `contents[].role` is one of `allowed_roles` (a missing role is allowed: it means `user`). -#}
{% test valid_request_roles(model, column_name='request', key=none, allowed_roles=['user', 'model']) %}
    {{ return(adapter.dispatch('test_valid_request_roles', 'vertex_batch')(model, column_name, key, allowed_roles)) }}
{% endtest %}

{% macro default__test_valid_request_roles(model, column_name, key, allowed_roles) -%}
    {%- set keys = vertex_batch._request_key(model, key) -%}
select
    {%- for k in keys %}
    checked.{{ k }},
    {%- endfor %}
    json_value(_vb_content, '$.role') as bad_role,
    'contents[' || cast(_vb_index as string) || '].role is '
        || json_value(_vb_content, '$.role') || ', not one of: {{ allowed_roles | join(", ") }}' as problem
from (select * from {{ model }}) as checked,
    unnest(json_query_array({{ vertex_batch._json_array_at('checked.' ~ column_name, '$.contents') }})) as _vb_content with offset as _vb_index
where json_value(_vb_content, '$.role') is not null
    and json_value(_vb_content, '$.role') not in (
        {%- for role in allowed_roles -%}{{ vertex_batch._string_literal(role) }}{{ ", " if not loop.last }}{%- endfor -%})
{% endmacro %}


{#- `contents` is a non-empty array, each entry has a non-empty `parts` array, and each part carries
    something (non-empty text, fileData, inlineData, functionCall or functionResponse). -#}
{% test non_empty_request_contents(model, column_name='request', key=none) %}
    {{ return(adapter.dispatch('test_non_empty_request_contents', 'vertex_batch')(model, column_name, key)) }}
{% endtest %}

{% macro default__test_non_empty_request_contents(model, column_name, key) -%}
    {%- set keys = vertex_batch._request_key(model, key) -%}
with requests as (
    select
        {%- for k in keys %}
        {{ k }},
        {%- endfor %}
        {{ column_name }} as _vb_request
    from {{ model }}
),

empty_contents as (
    select
        {%- for k in keys %}
        {{ k }},
        {%- endfor %}
        case
            when _vb_request is null then 'request is NULL'
            else 'contents is missing, empty or not an array (a NULL prompt or a NULL required part?)'
        end as problem
    from requests
    where array_length(json_query_array({{ vertex_batch._json_array_at('_vb_request', '$.contents') }})) = 0
),

contents as (
    select
        {%- for k in keys %}
        requests.{{ k }},
        {%- endfor %}
        _vb_content,
        _vb_index
    from requests,
        unnest(json_query_array({{ vertex_batch._json_array_at('requests._vb_request', '$.contents') }})) as _vb_content with offset as _vb_index
),

empty_parts as (
    select
        {%- for k in keys %}
        {{ k }},
        {%- endfor %}
        'contents[' || cast(_vb_index as string) || '].parts is missing or empty' as problem
    from contents
    where array_length(json_query_array({{ vertex_batch._json_array_at('_vb_content', '$.parts') }})) = 0
),

empty_part as (
    select
        {%- for k in keys %}
        contents.{{ k }},
        {%- endfor %}
        'contents[' || cast(_vb_index as string) || '].parts[' || cast(_vb_part_index as string)
            || '] has no text or data' as problem
    from contents,
        unnest(json_query_array({{ vertex_batch._json_array_at('contents._vb_content', '$.parts') }})) as _vb_part with offset as _vb_part_index
    where coalesce(json_value(_vb_part, '$.text'), '') = ''
        and json_query(_vb_part, '$.fileData.fileUri') is null
        and json_query(_vb_part, '$.inlineData.data') is null
        and json_query(_vb_part, '$.functionCall') is null
        and json_query(_vb_part, '$.functionResponse') is null
)

select * from empty_contents
union all
select * from empty_parts
union all
select * from empty_part
{% endmacro %}


{#- The serialised request is at most `max_bytes` bytes (default: var `vertex_batch_max_request_bytes`). -#}
{% test request_size(model, column_name='request', key=none, max_bytes=none) %}
    {{ return(adapter.dispatch('test_request_size', 'vertex_batch')(model, column_name, key, max_bytes)) }}
{% endtest %}

{% macro default__test_request_size(model, column_name, key, max_bytes) -%}
    {%- set keys = vertex_batch._request_key(model, key) -%}
    {%- set limit = max_bytes if max_bytes is not none else var('vertex_batch_max_request_bytes', 1000000) -%}
select
    {%- for k in keys %}
    {{ k }},
    {%- endfor %}
    byte_length(to_json_string({{ column_name }})) as request_bytes,
    'request is ' || cast(byte_length(to_json_string({{ column_name }})) as string)
        || ' bytes, more than {{ limit }}' as problem
from {{ model }}
where byte_length(to_json_string({{ column_name }})) > {{ limit }}
{% endmacro %}


{#- The key columns identify one row (model-level test; `key` defaults to `meta.vertex_batch.key`). -#}
{% test unique_request_key(model, key=none) %}
    {{ return(adapter.dispatch('test_unique_request_key', 'vertex_batch')(model, key)) }}
{% endtest %}

{% macro default__test_unique_request_key(model, key) -%}
    {%- set keys = vertex_batch._request_key(model, key) -%}
select
    {%- for k in keys %}
    {{ k }},
    {%- endfor %}
    count(*) as rows_with_key,
    'key ({{ keys | join(", ") }}) appears ' || cast(count(*) as string) || ' times' as problem
from {{ model }}
group by {{ keys | join(", ") }}
having count(*) > 1
{% endmacro %}


{#- When `generationConfig.responseSchema` is set: it is an object with a known `type`, every property of an
    OBJECT schema has a `type`, an ARRAY schema has `items`, and `responseMimeType` is application/json or
    text/x.enum. -#}
{% test valid_response_schema(model, column_name='request', key=none) %}
    {{ return(adapter.dispatch('test_valid_response_schema', 'vertex_batch')(model, column_name, key)) }}
{% endtest %}

{% macro default__test_valid_response_schema(model, column_name, key) -%}
    {%- set keys = vertex_batch._request_key(model, key) -%}
    {%- set known = ['STRING', 'NUMBER', 'INTEGER', 'BOOLEAN', 'ARRAY', 'OBJECT'] -%}
with schemas as (
    select
        {%- for k in keys %}
        {{ k }},
        {%- endfor %}
        json_query({{ column_name }}, '$.generationConfig.responseSchema') as _vb_schema,
        json_value({{ column_name }}, '$.generationConfig.responseMimeType') as _vb_mime_type
    from {{ model }}
    where json_query({{ column_name }}, '$.generationConfig.responseSchema') is not null
),

properties as (
    select
        {%- for k in keys %}
        schemas.{{ k }},
        {%- endfor %}
        _vb_name,
        -- JSONPath arguments must be literals on BigQuery: a dynamic member goes through the subscript operator.
        schemas._vb_schema['properties'][_vb_name] as _vb_property
    from schemas,
        unnest(json_keys(json_query(schemas._vb_schema, '$.properties'), 1)) as _vb_name
    where json_type(json_query(schemas._vb_schema, '$.properties')) = 'object'
),

problems as (
    select
        {%- for k in keys %}
        {{ k }},
        {%- endfor %}
        case
            when json_type(_vb_schema) != 'object' then 'responseSchema is not an object'
            when json_value(_vb_schema, '$.type') is null then 'responseSchema has no type'
            when upper(json_value(_vb_schema, '$.type')) not in (
                {%- for t in known -%}'{{ t }}'{{ ", " if not loop.last }}{%- endfor -%})
                then 'responseSchema type ' || json_value(_vb_schema, '$.type') || ' is not one of {{ known | join(", ") }}'
            when upper(json_value(_vb_schema, '$.type')) = 'ARRAY' and json_query(_vb_schema, '$.items') is null
                then 'responseSchema of type ARRAY has no items'
            when coalesce(_vb_mime_type, '') not in ('application/json', 'text/x.enum')
                then 'responseSchema needs responseMimeType application/json or text/x.enum, not '
                    || coalesce(_vb_mime_type, 'NULL')
        end as problem
    from schemas

    union all

    select
        {%- for k in keys %}
        {{ k }},
        {%- endfor %}
        'responseSchema property ' || _vb_name || ' has no type' as problem
    from properties
    where json_value(_vb_property, '$.type') is null
        and json_query(_vb_property, '$.anyOf') is null
)

select * from problems where problem is not null
{% endmacro %}
