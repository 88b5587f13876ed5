{#- vertex_batch.flatten_predictions joined with the expected values per request id. -#}
with flattened as (
    {{ vertex_batch.flatten_predictions(ref('landed_requests'), ref('test_accumulate_predictions'), key=['id']) | indent(4) }}
)

select
    flattened.*,
    predictions.batch_attempt,
    expected.expected_is_success,
    expected.expected_batch_job_name,
    expected.expected_batch_attempt,
    expected.expected_response_text,
    expected.expected_error_code,
    expected.expected_is_retryable
from flattened
left join {{ ref('test_accumulate_predictions') }} as predictions on flattened.id = predictions.id
left join {{ ref('expected_predictions') }} as expected on flattened.id = expected.id
