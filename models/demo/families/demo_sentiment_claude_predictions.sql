{#- Every answer of demo_sentiment_claude, kept across runs. -#}
{{ config(
    enabled=var('vertex_batch_enable_demo', project_name == 'vertex_batch') and var('vertex_batch_demo_families', false),
    materialized='incremental',
    incremental_strategy='merge',
    unique_key=['review_id', 'request_fingerprint'],
    full_refresh=false
) }}

{{ vertex_batch.accumulate_predictions(ref('demo_sentiment_claude'), key=['review_id']) }}
