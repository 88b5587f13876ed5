{#- One row per current review request with its answer flattened, plus the sentiment read from the
    answer (NULL when the answer is not one of the three words). -#}
{{ config(
    enabled=var('vertex_batch_enable_demo', project_name == 'vertex_batch'),
    materialized='table'
) }}

with flattened as (

    {{ vertex_batch.flatten_predictions(
        ref('demo_review_requests'),
        ref('demo_review_predictions'),
        key=['review_id'],
        passthrough=['product', 'rating', 'review_text']
    ) | indent(4) }}

)

select
    *,
    regexp_extract(lower(response_text), r'\b(positive|negative|neutral)\b') as predicted_sentiment
from flattened
