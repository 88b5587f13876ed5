{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key=['request_id', 'request_fingerprint'],
    full_refresh=false
) }}

{{ vertex_batch.accumulate_predictions(ref('scale_requests'), key=['request_id']) }}
