{#- Every answer the batch jobs returned for demo_review_requests, one row per review + request
    fingerprint. Incremental and protected from --full-refresh: answers are paid for once. -#}
{{ config(
    enabled=var('vertex_batch_enable_demo', project_name == 'vertex_batch'),
    materialized='incremental',
    incremental_strategy='merge',
    unique_key=['review_id', 'request_fingerprint'],
    full_refresh=false
) }}

{{ vertex_batch.accumulate_predictions(ref('demo_review_requests'), key=['review_id']) }}
