{#- Every answer the batch jobs returned for text_requests, one row per question_id + request fingerprint.
    Incremental and protected from --full-refresh: answers are paid for once. Before any batch run the
    landing table does not exist and this builds empty, with its columns typed. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key=['question_id', 'request_fingerprint'],
    full_refresh=false
) }}

{{ vertex_batch.accumulate_predictions(ref('text_requests'), key=['question_id']) }}
