{#- The same question asked of three families, compared in SQL: one row per review with each family's
    sentiment (read from its answer), their tokens and cost, and whether all three agree. The flattened results
    of the three families have the same columns and types, so they union by position. -#}
{{ config(
    enabled=var('vertex_batch_enable_demo', project_name == 'vertex_batch') and var('vertex_batch_demo_families', false),
    materialized='table'
) }}

with answers as (

    select 'gemini' as family, * from (
        {{ vertex_batch.flatten_predictions(ref('demo_sentiment_gemini'), ref('demo_sentiment_gemini_predictions'),
                                            key=['review_id']) | indent(8) }}
    )

    union all

    select 'claude' as family, * from (
        {{ vertex_batch.flatten_predictions(ref('demo_sentiment_claude'), ref('demo_sentiment_claude_predictions'),
                                            key=['review_id']) | indent(8) }}
    )

    union all

    select 'open_model' as family, * from (
        {{ vertex_batch.flatten_predictions(ref('demo_sentiment_open_model'), ref('demo_sentiment_open_model_predictions'),
                                            key=['review_id']) | indent(8) }}
    )

),

sentiments as (

    select
        review_id,
        family,
        regexp_extract(lower(response_text), r'\b(positive|negative|neutral)\b') as sentiment,
        total_tokens,
        cost_usd
    from answers

)

select
    review_id,
    any_value(if(family = 'gemini', sentiment, null)) as gemini_sentiment,
    any_value(if(family = 'claude', sentiment, null)) as claude_sentiment,
    any_value(if(family = 'open_model', sentiment, null)) as open_model_sentiment,
    count(distinct sentiment) = 1 and countif(sentiment is null) = 0 as all_agree,
    sum(total_tokens) as total_tokens,
    sum(cost_usd) as cost_usd
from sentiments
group by review_id
