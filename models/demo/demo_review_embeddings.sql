{#- Embeddings request model of the demo: one text-embedding request per product review. The model in
    `meta.vertex_batch` (text-embedding-005) makes it an embeddings request model: the runner sends `content`
    and `task_type` to an embeddings batch job, with `output_dimensionality` as the job's
    outputDimensionality (64 values a review keeps the demo's similarity step cheap; the default is 768). The
    row identity (content, task type, model and dimensionality) is derived by the runner and the macros.
    The embeddings step of the demo builds with `--vars '{vertex_batch_demo_embeddings: true}'` (the
    `vertex-batch demo` command sets it). -#}
{{ config(
    enabled=var('vertex_batch_enable_demo', project_name == 'vertex_batch') and var('vertex_batch_demo_embeddings', false),
    materialized='table',
    meta={'vertex_batch': {
        'key': ['review_id'],
        'model': 'text-embedding-005',
        'output_dimensionality': 64
    }}
) }}

select
    review_id,
    review_text as content,
    'SEMANTIC_SIMILARITY' as task_type
from {{ ref('demo_reviews') }}
