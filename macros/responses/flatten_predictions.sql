{#- The body of a flattened results model: one row per row of the request model, joined to its
    prediction on key + request_fingerprint (a request whose prompt or model changed since it was answered
    shows as not answered), with the response and status parsed into typed columns. `passthrough` lists other
    request model columns to carry along (after the key): jobs only ever see the key and `request`, the rest
    is joined back here. The fingerprint is derived from the request relation (see request_fingerprint).

    Every generating family (Gemini, Claude, open models) gives the same columns, in the same order and of the
    same types, so the results of request models of different families `union all` by position: the family
    only decides where each value is read (vertex_batch.request_family). -#}
{% macro flatten_predictions(request_relation, predictions_relation, key, passthrough=[]) %}
    {{- return(adapter.dispatch('flatten_predictions', 'vertex_batch')(
        request_relation, predictions_relation, key, passthrough)) -}}
{% endmacro %}

{% macro default__flatten_predictions(request_relation, predictions_relation, key, passthrough) -%}
    {%- set keys = vertex_batch._as_list(key) -%}
    {%- if not keys -%}
        {{ exceptions.raise_compiler_error("vertex_batch.flatten_predictions needs `key` (the request model's key columns)") }}
    {%- endif -%}
    {%- set extra = vertex_batch._as_list(passthrough) -%}
    {%- set family = vertex_batch.request_family(request_relation) -%}
    {%- set response = 'predictions.response' -%}
with requests as (

    select
    {%- for column in keys + extra %}
        {{ column }},
    {%- endfor %}
        {{ vertex_batch.request_fingerprint_of(request_relation) }} as request_fingerprint
    from {{ request_relation }}

),

predictions as (

    select
    {%- for column in keys + ['request_fingerprint', 'response', 'status', 'processed_time', 'batch_job_name'] %}
        {{ column }},
    {%- endfor %}
        {{ vertex_batch.cost_usd('response', vertex_batch.request_model_name(request_relation),
                                'processed_time', vertex_batch.lane_of('batch_job_name')) }} as cost_usd
    from {{ predictions_relation }}

)

select
{%- for column in keys + extra %}
    requests.{{ column }},
{%- endfor %}
    predictions.request_fingerprint is not null as is_answered,
    {{ vertex_batch.response_text(response, family) }} as response_text,
    {{ vertex_batch.finish_reason(response, family) }} as finish_reason,
    {{ vertex_batch.raw_finish_reason(response, family) }} as raw_finish_reason,
    {{ vertex_batch.token_count(response, 'prompt', family) }} as prompt_tokens,
    {{ vertex_batch.token_count(response, 'candidates', family) }} as candidate_tokens,
    {{ vertex_batch.token_count(response, 'thoughts', family) }} as thoughts_tokens,
    {{ vertex_batch.token_count(response, 'total', family) }} as total_tokens,
    {{ vertex_batch.token_count(response, 'cached_content', family) }} as cached_content_tokens,
    predictions.cost_usd,
    {{ vertex_batch.model_version(response, family) }} as model_version,
    {{ vertex_batch.avg_logprobs(response, family) }} as avg_logprobs,
    {{ vertex_batch.safety_blocked(response, family=family) }} as safety_blocked,
    predictions.status,
    {{ vertex_batch.is_success('predictions.status') }} as is_success,
    {{ vertex_batch.error_code('predictions.status') }} as error_code,
    {{ vertex_batch.error_status('predictions.status') }} as error_status,
    {{ vertex_batch.error_message('predictions.status') }} as error_message,
    {{ vertex_batch.is_retryable('predictions.status') }} as is_retryable,
    predictions.processed_time,
    predictions.batch_job_name
from requests
left join predictions
    on {{ vertex_batch._join_on(keys + ['request_fingerprint'], 'requests', 'predictions') }}
{%- endmacro %}
