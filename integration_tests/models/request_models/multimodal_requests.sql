{#- A multimodal request model: a question about a file on Cloud Storage (fileData part from a gs:// URI
    and a MIME type). The file part is optional: a row without a file is a text-only request. -#}
{{ config(meta={'vertex_batch': {'key': ['doc_id']}}) }}

with requests as (
    select
        doc_id,
        question,
        file_uri,
        mime_type,
        {{ vertex_batch.gemini_request(
            parts=['question', vertex_batch.file_part('file_uri', 'mime_type', optional=true)],
            generation_config={'temperature': 0, 'max_output_tokens': 32}
        ) }} as request
    from {{ ref('data_documents') }}
)

select *, {{ vertex_batch.request_fingerprint('request') }} as request_fingerprint
from requests
