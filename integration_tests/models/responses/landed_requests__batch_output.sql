{#- The landing table of landed_requests, shaped as the runner writes it: the request model's columns, the
    job's response / status / processed_time, then batch_job_name, batch_attempt, landed_at. -#}
select
    requests.id,
    requests.request,
    requests.request_fingerprint,
    parse_json(landed.response_json) as response,
    if(landed.status_text = '(empty)', '', landed.status_text) as status,
    landed.processed_time,
    landed.batch_job_name,
    landed.batch_attempt,
    landed.landed_at
from {{ ref('landed_requests') }} as requests
inner join {{ ref('data_landed') }} as landed on requests.id = landed.id
