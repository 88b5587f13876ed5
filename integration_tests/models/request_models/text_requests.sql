{#- A text request model: one short question per row. -#}
{{ config(meta={'vertex_batch': {'key': ['question_id'], 'max_rows_per_job': 1000}}) }}

with requests as (
    select
        question_id,
        question,
        {{ vertex_batch.gemini_request(
            prompt='question',
            system_instruction=vertex_batch.quote_text('Answer in a few words.'),
            generation_config={'temperature': 0, 'max_output_tokens': 16, 'stop_sequences': ['\n\n']}
        ) }} as request
    from {{ ref('data_questions') }}
)

select *, {{ vertex_batch.request_fingerprint('request') }} as request_fingerprint
from requests
