{#- Every embedding the batch jobs returned for demo_review_embeddings, one row per review + request
    fingerprint. Incremental and protected from --full-refresh: vectors are paid for once. -#}
{{ config(
    enabled=var('vertex_batch_enable_demo', project_name == 'vertex_batch') and var('vertex_batch_demo_embeddings', false),
    materialized='incremental',
    incremental_strategy='merge',
    unique_key=['review_id', 'request_fingerprint'],
    full_refresh=false
) }}

{{ vertex_batch.accumulate_predictions(ref('demo_review_embeddings'), key=['review_id']) }}
