{#- One row per current multimodal request with its answer flattened. Rows whose file the model cannot
    read (an image or a video for a text-only model) carry the row's error code, status and message. -#}
{{ vertex_batch.flatten_predictions(
    ref('multimodal_requests'),
    ref('multimodal_predictions'),
    key=['doc_id'],
    passthrough=['question', 'file_uri', 'mime_type']
) }}
