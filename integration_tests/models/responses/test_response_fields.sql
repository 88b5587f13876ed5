{#- vertex_batch.response_text / finish_reason / token_count / model_version / avg_logprobs / safety_blocked. -#}
with responses as (
    select *, parse_json(response_json) as response
    from {{ ref('data_responses') }}
)

select
    id,
    {{ vertex_batch.response_text('response') }} as actual_text,
    expected_text,
    {{ vertex_batch.finish_reason('response') }} as actual_finish_reason,
    expected_finish_reason,
    {{ vertex_batch.token_count('response', 'prompt') }} as actual_prompt_tokens,
    expected_prompt_tokens,
    {{ vertex_batch.token_count('response', 'candidates') }} as actual_candidate_tokens,
    expected_candidate_tokens,
    {{ vertex_batch.token_count('response', 'thoughts') }} as actual_thoughts_tokens,
    expected_thoughts_tokens,
    {{ vertex_batch.token_count('response', 'totalTokenCount') }} as actual_total_tokens,
    expected_total_tokens,
    {{ vertex_batch.model_version('response') }} as actual_model_version,
    expected_model_version,
    {{ vertex_batch.avg_logprobs('response') }} as actual_avg_logprobs,
    expected_avg_logprobs,
    {{ vertex_batch.safety_blocked('response') }} as actual_safety_blocked,
    expected_safety_blocked
from responses
