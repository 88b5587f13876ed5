{#- The demo's families step (var `vertex_batch_demo_families`): the same question about the first 20
    reviews, asked of gemini-3.5-flash. `prompt_request` builds the body of the model's family, so the three request
    models of this step differ only in their model. -#}
{{ config(
    enabled=var('vertex_batch_enable_demo', project_name == 'vertex_batch') and var('vertex_batch_demo_families', false),
    materialized='table',
    meta={'vertex_batch': {'key': ['review_id'], 'model': 'gemini-3.5-flash'}}
) }}

select
    review_id,
    {{ vertex_batch.prompt_request(
        prompt="concat('Review: ', review_text, '\\nSentiment (positive, negative or neutral):')",
        system_instruction=vertex_batch.quote_text('Answer with one word: positive, negative or neutral.'),
        max_output_tokens=64,
        thinking_level='low'
    ) }} as request
from {{ ref('demo_reviews') }}
where review_id <= 20
