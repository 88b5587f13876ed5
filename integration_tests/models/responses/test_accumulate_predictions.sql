{#- vertex_batch.accumulate_predictions over the fabricated landing table (built first: see depends_on). -#}
-- depends_on: {{ ref('landed_requests__batch_output') }}
{{ vertex_batch.accumulate_predictions(ref('landed_requests'), key=['id']) }}
