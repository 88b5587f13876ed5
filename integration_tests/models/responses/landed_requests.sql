{#- A small request model whose landing table (landed_requests__batch_output) is fabricated from a seed. -#}
with requests as (
    select
        id,
        {{ vertex_batch.gemini_request(prompt="concat('Question ', cast(id as string))") }} as request
    from unnest([1, 2, 3, 4, 5, 6]) as id
)

select *, {{ vertex_batch.request_fingerprint('request') }} as request_fingerprint
from requests
