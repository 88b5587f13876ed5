{#- vertex_batch.gemini_request: one case per argument combination; `actual` and `expected` are compared as
    TO_JSON_STRING of JSON values (the expected text is parsed first), so key order and number formatting
    are the engine's on both sides. -#}
with prompts as (
    select * from {{ ref('data_prompts') }}
),

cases as (

    select 'text' as case_name, id, {{ vertex_batch.gemini_request(prompt='prompt') }} as request
    from prompts

    union all

    select 'configured', id, {{ vertex_batch.gemini_request(
        prompt='prompt',
        system_instruction=vertex_batch.quote_text('Be brief.'),
        generation_config={
            'temperature': 0.2, 'top_p': 0.95, 'top_k': 40, 'max_output_tokens': 16,
            'stop_sequences': ['\n\n'], 'seed': 7, 'response_mime_type': 'text/plain',
            'thinking_config': {'thinking_budget': 0}},
        safety_settings={'HARM_CATEGORY_HATE_SPEECH': 'BLOCK_ONLY_HIGH'},
        labels={'team': 'analytics'}) }}
    from prompts where id = 1

    union all

    select 'system_from_column', id, {{ vertex_batch.gemini_request(prompt='prompt', system_instruction='image_uri') }}
    from prompts where id in (1, 3)

    union all

    select 'multimodal', id, {{ vertex_batch.gemini_request(
        parts=[vertex_batch.quote_text('Describe the image.'), vertex_batch.file_part('image_uri', 'image_mime')]) }}
    from prompts

    union all

    select 'optional_file', id, {{ vertex_batch.gemini_request(
        parts=['prompt', vertex_batch.file_part('image_uri', 'image_mime', optional=true)]) }}
    from prompts

    union all

    select 'structured', id, {{ vertex_batch.gemini_request(
        prompt='prompt',
        generation_config={
            'response_mime_type': 'application/json',
            'response_schema': {
                'type': 'OBJECT',
                'properties': {
                    'sentiment': {'type': 'STRING', 'enum': ['positive', 'negative', 'neutral']},
                    'score': {'type': 'NUMBER'}},
                'required': ['sentiment']}}) }}
    from prompts where id = 1

    union all

    select 'multi_turn', id, {{ vertex_batch.gemini_request(contents="
        json_array(
            json_object('role', 'user', 'parts', json_array(json_object('text', 'Hi'))),
            json_object('role', 'model', 'parts', json_array(json_object('text', 'Hello!'))),
            json_object('role', 'user', 'parts', json_array(json_object('text', prompt))))") }}
    from prompts where id = 1

    union all

    select 'no_role', id, {{ vertex_batch.gemini_request(prompt='prompt', role=none) }}
    from prompts where id = 1

    union all

    select 'tools_and_extra', id, {{ vertex_batch.gemini_request(
        prompt='prompt',
        tools=[{'googleSearch': {}}],
        extra={'cachedContent': vertex_batch.quote_text('projects/p/locations/us-central1/cachedContents/c1')}) }}
    from prompts where id = 1

    union all

    select 'generation_config_sql', id, {{ vertex_batch.gemini_request(
        prompt='prompt',
        generation_config="json_object('temperature', 1, 'maxOutputTokens', 8)") }}
    from prompts where id = 1

)

select
    cases.case_name,
    cases.id,
    to_json_string(cases.request) as actual,
    to_json_string(parse_json(expected.expected_request)) as expected
from cases
full outer join {{ ref('expected_gemini_request') }} as expected
    on cases.case_name = expected.case_name and cases.id = expected.id
