{#- vertex_batch.batch_output of a relation without a landing table: no rows, landing-table columns. -#}
select * from {{ vertex_batch.batch_output(ref('data_prompts')) }}
