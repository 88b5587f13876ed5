{{ config(materialized='table') }}

{{ vertex_batch.flatten_predictions(ref('scale_requests'), ref('scale_predictions'), key=['request_id']) }}
