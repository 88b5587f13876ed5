{#- vertex_batch.request_fingerprint: hex SHA-256 of 'gemini-3.5-flash\n{}\n{"a":1}' (the catalog's default model, job parameters,
    serialised request; checked with hashlib and vertex_batch.identity.fingerprint). -#}
select
    {{ vertex_batch.request_fingerprint("parse_json('{\"a\": 1}')") }} as actual,
    '18d0103b971a29d97cbd9f522858cda04c0e1296d933a7b1e044ff733a2ee386' as expected
