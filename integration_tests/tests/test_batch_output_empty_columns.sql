{#- batch_output without a landing table has the landing table's columns, typed: the request model's key columns
    (none here: data_prompts is no request model), `request`, `request_fingerprint`, then the output columns
    (jobs only get the key and `request`; other columns are joined back by flatten_predictions). -#}
with expected as (
    select * from unnest([
        struct('request' as column_name, 'JSON' as data_type),
        ('request_fingerprint', 'STRING'),
        ('response', 'JSON'),
        ('status', 'STRING'),
        ('processed_time', 'TIMESTAMP'),
        ('batch_job_name', 'STRING'),
        ('batch_attempt', 'INT64'),
        ('landed_at', 'TIMESTAMP')
    ])
),

actual as (
    select column_name, data_type
    {%- set relation = ref('test_batch_output_empty') %}
    from `{{ relation.database }}`.`{{ relation.schema }}`.INFORMATION_SCHEMA.COLUMNS
    where table_name = '{{ relation.identifier }}'
)

select expected.column_name, expected.data_type, actual.data_type as actual_data_type
from expected
full outer join actual on expected.column_name = actual.column_name
where expected.data_type is distinct from actual.data_type
