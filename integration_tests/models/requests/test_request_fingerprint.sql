{#- vertex_batch.request_fingerprint: hex SHA-256 of the serialised JSON ('{"a":1}', checked with hashlib). -#}
select
    {{ vertex_batch.request_fingerprint("parse_json('{\"a\": 1}')") }} as actual,
    '015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862' as expected
