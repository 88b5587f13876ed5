{#- The body of a flattened results model: one row per row of the request model, joined to its
    prediction on key + request_fingerprint (a request whose prompt or model changed since it was answered
    shows as not answered), with the response and status parsed into typed columns. `passthrough` lists other
    request model columns to carry along (after the key): jobs only ever see the key and `request`, the rest
    is joined back here. The fingerprint is derived from the request relation (see request_fingerprint). -#}
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
        {{ column }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ predictions_relation }}

)

select
{%- for column in keys + extra %}
    requests.{{ column }},
{%- endfor %}
    predictions.request_fingerprint is not null as is_answered,
    {{ vertex_batch.response_text('predictions.response') }} as response_text,
    {{ vertex_batch.finish_reason('predictions.response') }} as finish_reason,
    {{ vertex_batch.token_count('predictions.response', 'prompt') }} as prompt_tokens,
    {{ vertex_batch.token_count('predictions.response', 'candidates') }} as candidate_tokens,
    {{ vertex_batch.token_count('predictions.response', 'thoughts') }} as thoughts_tokens,
    {{ vertex_batch.token_count('predictions.response', 'total') }} as total_tokens,
    {{ vertex_batch.token_count('predictions.response', 'cached_content') }} as cached_content_tokens,
    {{ vertex_batch.cost_usd('predictions.response', vertex_batch.request_model_name(request_relation),
                            'predictions.processed_time', vertex_batch.lane_of('predictions.batch_job_name')) }} as cost_usd,
    {{ vertex_batch.model_version('predictions.response') }} as model_version,
    {{ vertex_batch.avg_logprobs('predictions.response') }} as avg_logprobs,
    {{ vertex_batch.safety_blocked('predictions.response') }} as safety_blocked,
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
