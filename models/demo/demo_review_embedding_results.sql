{#- One row per current review with its embedding flattened (`vertex_batch.flatten_embeddings`): `embedding`
    ARRAY<FLOAT64> (empty until answered), `dimensions` (the vector's size: the request model's
    output_dimensionality), token count, truncation, cost and status columns. -#}
{{ config(
    enabled=var('vertex_batch_enable_demo', project_name == 'vertex_batch') and var('vertex_batch_demo_embeddings', false),
    materialized='table'
) }}

{{ vertex_batch.flatten_embeddings(
    ref('demo_review_embeddings'),
    ref('demo_review_embedding_predictions'),
    key=['review_id'],
    passthrough=['content']
) }}
