{#- `scale_rows` short classification requests, generated; `scale_variant` changes every
    `scale_variant_every`-th prompt (to measure incremental re-runs). -#}
{{ config(
    materialized='table',
    meta={'vertex_batch': {
        'key': ['request_id'],
        'model': var('scale_model'),
        'max_rows_per_job': var('scale_rows_per_job'),
        'max_attempts': var('scale_max_attempts')
    }}
) }}

with ids as (
    select request_id from unnest(generate_array(1, {{ var('scale_rows') }})) as request_id
),

prompts as (
    select
        request_id,
        concat(
            'Is item ', cast(request_id as string), ' in stock? Answer yes or no.',
            if(mod(request_id, {{ var('scale_variant_every') }}) = 0, '{{ var("scale_variant") }}', '')
        ) as prompt
    from ids
),

requests as (
    select
        request_id,
        {{ vertex_batch.gemini_request(prompt='prompt', generation_config={'temperature': 0, 'max_output_tokens': 8}) }}
            as request
    from prompts
)

select *, {{ vertex_batch.request_fingerprint('request') }} as request_fingerprint
from requests
