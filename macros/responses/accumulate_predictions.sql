{#- The body of a predictions model: one row per key + request_fingerprint (the row identity: see
    request_fingerprint; the runner writes it with every landed row) from the landing table of
    `request_relation`, keeping the latest successful row if there is one, else the latest row (a
    success is never replaced by a failure).

    Use it in an incremental model so answers that were paid for survive rebuilds:

        {{ config(materialized='incremental', incremental_strategy='merge',
                  unique_key=['review_id', 'request_fingerprint'], full_refresh=false) }}
        {{ vertex_batch.accumulate_predictions(ref('demo_review_requests'), key=['review_id']) }}

    On an incremental run only rows landed since the last run are read (`landed_at` watermark), and the
    rows already kept for the same key + fingerprint compete with them, so the merge never downgrades a
    success. -#}
{% macro accumulate_predictions(request_relation, key) %}
    {{- return(adapter.dispatch('accumulate_predictions', 'vertex_batch')(request_relation, key)) -}}
{% endmacro %}

{% macro default__accumulate_predictions(request_relation, key) -%}
    {%- set keys = vertex_batch._as_list(key) -%}
    {%- if not keys -%}
        {{ exceptions.raise_compiler_error("vertex_batch.accumulate_predictions needs `key` (the request model's key columns)") }}
    {%- endif -%}
    {%- set partition = keys + ['request_fingerprint'] -%}
    {%- set kind = vertex_batch.request_kind(request_relation) -%}
    {%- set columns = vertex_batch.prediction_columns(keys, kind) -%}
    {%- set incremental = is_incremental() -%}
with landed as (

    select
    {%- for column in columns %}
        {%- if column == 'predictions' %}
        {{ vertex_batch._landed_predictions(request_relation, 'batch_output.predictions') }} as predictions{{ "," if not loop.last }}
        {%- else %}
        batch_output.{{ column }}{{ "," if not loop.last }}
        {%- endif %}
    {%- endfor %}
    from {{ vertex_batch.batch_output(request_relation) }} as batch_output
    {%- if incremental %}
    where batch_output.landed_at >= (
        select coalesce(max(landed_at), timestamp '1970-01-01 00:00:00+00') from {{ this }})
    {%- endif %}

),

candidates as (

    select * from landed
    {%- if incremental %}

    union all

    {#- Rows kept so far for the keys that got new rows compete with them. #}
    select
    {%- for column in columns %}
        kept.{{ column }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ this }} as kept
    inner join (select distinct {{ partition | join(", ") }} from landed) as touched
        on {{ vertex_batch._join_on(partition, 'kept', 'touched') }}
    {%- endif %}

),

ranked as (

    select
        candidates.*,
        row_number() over (
            partition by {{ partition | join(", ") }}
            order by
                case when {{ vertex_batch.is_success('status') }} then 0 else 1 end,
                {%- if 'processed_time' in columns %}
                processed_time desc nulls last,
                {%- endif %}
                batch_attempt desc nulls last,
                landed_at desc nulls last
        ) as _vb_rank
    from candidates

)

select
{%- for column in columns %}
    {{ column }}{{ "," if not loop.last }}
{%- endfor %}
from ranked
where _vb_rank = 1
{%- endmacro %}


{#- The columns of a predictions model, in order; `kind` 'embed' for an embeddings request model (its jobs
    write `predictions` JSON and `status`, no `processed_time`). -#}
{% macro prediction_columns(key, kind='generate') %}
    {{- return(adapter.dispatch('prediction_columns', 'vertex_batch')(key, kind)) -}}
{% endmacro %}

{% macro default__prediction_columns(key, kind='generate') -%}
    {%- if kind == 'embed' -%}
        {{- return(vertex_batch._as_list(key) + [
            'request_fingerprint', 'content', 'predictions', 'status', 'batch_job_name', 'batch_attempt',
            'landed_at']) -}}
    {%- endif -%}
    {{- return(vertex_batch._as_list(key) + [
        'request_fingerprint', 'request', 'response', 'status', 'processed_time',
        'batch_job_name', 'batch_attempt', 'landed_at']) -}}
{% endmacro %}
