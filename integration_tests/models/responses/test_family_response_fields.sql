{#- The response field macros on a Claude `Message` and an OpenAI `chat.completion` (vertex_batch.response_text,
    finish_reason normalised and raw, token_count, model_version, safety_blocked with `family`). -#}
{%- set families = ['claude', 'chat-completions'] %}
{%- for family in families %}
select
    id,
    {{ vertex_batch.response_text('response', family) }} as actual_text,
    expected_text,
    {{ vertex_batch.finish_reason('response', family) }} as actual_finish_reason,
    expected_finish_reason,
    {{ vertex_batch.raw_finish_reason('response', family) }} as actual_raw_finish_reason,
    expected_raw_finish_reason,
    {{ vertex_batch.token_count('response', 'prompt', family) }} as actual_prompt_tokens,
    expected_prompt_tokens,
    {{ vertex_batch.token_count('response', 'candidates', family) }} as actual_candidate_tokens,
    expected_candidate_tokens,
    {{ vertex_batch.token_count('response', 'thoughts', family) }} as actual_thoughts_tokens,
    expected_thoughts_tokens,
    {{ vertex_batch.token_count('response', 'total', family) }} as actual_total_tokens,
    expected_total_tokens,
    {{ vertex_batch.model_version('response', family) }} as actual_model_version,
    expected_model_version,
    {{ vertex_batch.safety_blocked('response', family=family) }} as actual_safety_blocked,
    expected_safety_blocked
from (select *, parse_json(response_json) as response from {{ ref('data_family_responses') }}) as responses
where family = '{{ family }}'
{{ 'union all' if not loop.last }}
{%- endfor %}
