{#- Request model of the demo: one Gemini request per product review, asking for its sentiment in one
    word. `meta.vertex_batch` makes it a request model for the runner; other keys (model, location,
    max_rows_per_job, max_attempts, input) default to the project's vars. Only `review_id` and `request` go
    to the batch job; the row identity (`request_fingerprint`: model + request) is derived by the runner and
    the flatten macros, and product, rating and review_text are joined back by demo_review_results.

    Review 300 is sent with the role `tester` on purpose: the service rejects that row with
    "Please use a valid role: user, model." (400 INVALID_ARGUMENT), so the demo shows how a failed row
    lands in demo_review_results. Its `valid_request_roles` test is set to warn for the same reason. -#}
{{ config(
    enabled=var('vertex_batch_enable_demo', project_name == 'vertex_batch'),
    materialized='table',
    meta={'vertex_batch': {'key': ['review_id']}}
) }}

with reviews as (

    select review_id, product, rating, review_text
    from {{ ref('demo_reviews') }}

)

select
    review_id,
    product,
    rating,
    review_text,
    {{ vertex_batch.gemini_request(
        prompt="concat('Review: ', review_text, '\\nSentiment (positive, negative or neutral):')",
        role="if(review_id = 300, 'tester', 'user')",
        system_instruction=vertex_batch.quote_text(
            'Classify the sentiment of the product review. Answer with one word: positive, negative or neutral.'),
        generation_config={'temperature': 0, 'max_output_tokens': 8}
    ) }} as request
from reviews
