{#- vertex_batch.is_success / error_code / error_status / error_message / is_retryable on status strings. -#}
with statuses as (
    select *, if(status_text = '(empty)', '', status_text) as status
    from {{ ref('data_statuses') }}
)

select
    id,
    status,
    {{ vertex_batch.is_success('status') }} as actual_success,
    expected_success,
    {{ vertex_batch.error_code('status') }} as actual_code,
    expected_code,
    {{ vertex_batch.error_status('status') }} as actual_status,
    expected_status,
    {{ vertex_batch.error_message('status') }} as actual_message,
    expected_message,
    {{ vertex_batch.is_retryable('status') }} as actual_retryable,
    expected_retryable
from statuses
