{#- Deliberately invalid requests, one problem per `bad_id`; every validation test on this model fails and
    names the bad keys. Only built with --vars '{vertex_batch_it_bad_requests: true}'. -#}
{{ config(
    enabled=var('vertex_batch_it_bad_requests', false),
    tags=['bad_requests'],
    meta={'vertex_batch': {'key': ['bad_id']}}
) }}

{%- set schema_without_type = {'properties': {'answer': {'type': 'STRING'}}} -%}
{%- set property_without_type = {'type': 'OBJECT', 'properties': {'answer': {'description': 'no type'}}} -%}

with requests as (

    -- 1: a role the service rejects ("Please use a valid role: user, model.")
    select 1 as bad_id, {{ vertex_batch.gemini_request(prompt="'Hello'", role="'tester'") }} as request

    union all
    -- 2: a NULL prompt -> "contents": []
    select 2, {{ vertex_batch.gemini_request(prompt="cast(null as string)") }}

    union all
    -- 3: an empty text part
    select 3, {{ vertex_batch.gemini_request(prompt="''") }}

    union all
    -- 4: a request larger than the test's max_bytes (1000)
    select 4, {{ vertex_batch.gemini_request(prompt="repeat('x', 2000)") }}

    union all
    -- 5 (twice): a duplicate key
    select 5, {{ vertex_batch.gemini_request(prompt="'first'") }}

    union all
    select 5, {{ vertex_batch.gemini_request(prompt="'second'") }}

    union all
    -- 6: responseSchema without a type
    select 6, {{ vertex_batch.gemini_request(prompt="'Hello'", generation_config={
        'response_mime_type': 'application/json', 'response_schema': schema_without_type}) }}

    union all
    -- 7: a responseSchema property without a type
    select 7, {{ vertex_batch.gemini_request(prompt="'Hello'", generation_config={
        'response_mime_type': 'application/json', 'response_schema': property_without_type}) }}

    union all
    -- 8: responseSchema without responseMimeType application/json
    select 8, {{ vertex_batch.gemini_request(prompt="'Hello'", generation_config={
        'response_schema': {'type': 'STRING'}}) }}

    union all
    -- 9: contents that is an object, not an array
    select 9, {{ vertex_batch.gemini_request(contents="json_object('role', 'user', 'parts', json_array())") }}

)

select *, {{ vertex_batch.request_fingerprint('request') }} as request_fingerprint
from requests
