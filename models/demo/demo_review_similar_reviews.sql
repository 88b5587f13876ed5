{#- For every embedded review, the most similar other review by cosine similarity of their embeddings, in
    plain SQL that runs on BigQuery and the local emulator. Reviews whose text is identical have identical
    vectors (similarity 1); ties go to the lower review_id. -#}
{{ config(
    enabled=var('vertex_batch_enable_demo', project_name == 'vertex_batch') and var('vertex_batch_demo_embeddings', false),
    materialized='table'
) }}

with embedded as (

    select review_id, content as review_text, embedding
    from {{ ref('demo_review_embedding_results') }}
    where is_success and array_length(embedding) > 0

),

values_of as (

    select embedded.review_id, value, position
    from embedded, unnest(embedded.embedding) as value with offset as position

),

norms as (

    select review_id, sqrt(sum(value * value)) as norm
    from values_of
    group by review_id

),

dot_products as (

    select a.review_id, b.review_id as similar_review_id, sum(a.value * b.value) as dot_product
    from values_of as a
    inner join values_of as b
        on a.position = b.position and a.review_id != b.review_id
    group by a.review_id, b.review_id

),

ranked as (

    select
        dot_products.review_id,
        dot_products.similar_review_id,
        safe_divide(dot_products.dot_product, left_norm.norm * right_norm.norm) as cosine_similarity,
        row_number() over (
            partition by dot_products.review_id
            order by safe_divide(dot_products.dot_product, left_norm.norm * right_norm.norm) desc,
                dot_products.similar_review_id
        ) as similarity_rank
    from dot_products
    inner join norms as left_norm on left_norm.review_id = dot_products.review_id
    inner join norms as right_norm on right_norm.review_id = dot_products.similar_review_id

)

select
    ranked.review_id,
    review.review_text,
    ranked.similar_review_id,
    similar.review_text as similar_review_text,
    ranked.cosine_similarity
from ranked
inner join embedded as review on review.review_id = ranked.review_id
inner join embedded as similar on similar.review_id = ranked.similar_review_id
where ranked.similarity_rank = 1
