{#- One row per current text request with its answer flattened: text, finish reason, tokens, errors. -#}
{{ vertex_batch.flatten_predictions(
    ref('text_requests'),
    ref('text_predictions'),
    key=['question_id'],
    passthrough=['question']
) }}
