{#- vertex_batch.request_fingerprint: hex SHA-256 of 'gemini-2.5-flash\n{}\n{"a":1}' (model, job parameters,
    serialised request; checked with hashlib and vertex_batch.identity.fingerprint). -#}
select
    {{ vertex_batch.request_fingerprint("parse_json('{\"a\": 1}')", model='gemini-2.5-flash') }} as actual,
    '7d3cb10d49449315450671c64338dc1546aadb68a623d7f49a587c560544c727' as expected
