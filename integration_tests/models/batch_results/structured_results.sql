{#- One row per current structured-output request: the flattened answer plus its JSON read into typed
    columns (`answer` STRING, `confidence` FLOAT64) and `parse_error` (the answer is not JSON of that
    shape; NULL while unanswered). -#}
with flattened as (

    {{ vertex_batch.flatten_predictions(
        ref('structured_requests'),
        ref('structured_predictions'),
        key=['question_id'],
        passthrough=['question']
    ) | indent(4) }}

)

select
    flattened.*,
    {{ vertex_batch.structured_columns('flattened.response_text', {
        'answer': 'STRING',
        'confidence': 'FLOAT64'}) | indent(4) }}
from flattened
