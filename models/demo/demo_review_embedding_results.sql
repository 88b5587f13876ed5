{#- One row per current review with its embedding flattened (`vertex_batch.flatten_embeddings`): `embedding`
    ARRAY<FLOAT64> (empty until answered), token count, truncation and status columns, and `dimensions`, the
    vector's size (the request model's output_dimensionality). -#}
{{ config(
    enabled=var('vertex_batch_enable_demo', project_name == 'vertex_batch') and var('vertex_batch_demo_embeddings', false),
    materialized='table'
) }}

with flattened as (

    {{ vertex_batch.flatten_embeddings(
        ref('demo_review_embeddings'),
        ref('demo_review_embedding_predictions'),
        key=['review_id'],
        passthrough=['content']
    ) | indent(4) }}

)

select
    *,
    array_length(embedding) as dimensions
from flattened
