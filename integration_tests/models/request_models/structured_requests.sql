{#- A structured-output request model: the answer must be JSON following `responseSchema`. -#}
{{ config(meta={'vertex_batch': {'key': ['question_id'], 'model': 'gemini-3.5-flash-lite', 'max_attempts': 2}}) }}

with requests as (
    select
        question_id,
        question,
        {{ vertex_batch.gemini_request(
            prompt="concat('Answer as JSON with fields answer and confidence: ', question)",
            generation_config={
                'temperature': 0,
                'max_output_tokens': 64,
                'response_mime_type': 'application/json',
                'response_schema': {
                    'type': 'OBJECT',
                    'properties': {
                        'answer': {'type': 'STRING'},
                        'confidence': {'type': 'NUMBER'}},
                    'required': ['answer']}}
        ) }} as request
    from {{ ref('data_questions') }}
)

select *, {{ vertex_batch.request_fingerprint('request') }} as request_fingerprint
from requests
