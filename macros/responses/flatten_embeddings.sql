{#- Fields of an embedding in a predictions model's `predictions` column, for both embedding families: legacy text
    embeddings (`family` 'text-embedding', the default) keep the JSON array production writes,
    `[{"embeddings": {"statistics": {"token_count": 8, "truncated": false}, "values": [0.2, ...]}}]` (`[]` for a
    failed row); Gemini embeddings ('gemini-embedding') keep the line's `EmbedContentResponse`,
    `{"embedding": {"values": [...]}, "usageMetadata": {"promptTokenCount": 8}, "truncated": true}` (`truncated`
    only when the text was cut). Each macro takes a SQL expression of type JSON. -#}

{#- Where each embedding family keeps the vector, the tokens embedded and whether the text was cut. -#}
{% macro _embedding_paths(family) %}
    {%- if family == 'gemini-embedding' -%}
        {{- return({'values': '$.embedding.values', 'tokens': '$.usageMetadata.promptTokenCount',
                    'truncated': '$.truncated', 'answered': '$.embedding'}) -}}
    {%- endif -%}
    {{- return({'values': '$[0].embeddings.values', 'tokens': '$[0].embeddings.statistics.token_count',
                'truncated': '$[0].embeddings.statistics.truncated', 'answered': '$[0].embeddings'}) -}}
{% endmacro %}

{#- The vector as ARRAY<FLOAT64>, in order; an empty array when there is none (a failed or unanswered
    row: BigQuery stores a NULL array as empty). -#}
{% macro embedding_values(predictions, family='text-embedding') %}
    {{- return(adapter.dispatch('embedding_values', 'vertex_batch')(predictions, family)) -}}
{% endmacro %}

{% macro default__embedding_values(predictions, family) -%}
    {{- vertex_batch._unsupported('embedding_values') -}}
{% endmacro %}

{#- BigQuery: UNNEST ... WITH OFFSET keeps the order of the values. -#}
{% macro bigquery__embedding_values(predictions, family) -%}
    array(select cast(json_value(_vb_value, '$') as float64)
          from unnest(json_query_array({{ vertex_batch._json_array_at(predictions, vertex_batch._embedding_paths(family)['values']) }})) as _vb_value
              with offset as _vb_offset
          order by _vb_offset)
{%- endmacro %}


{#- `statistics.token_count` of the embedding as INT64 (tokens embedded); NULL when there is none. -#}
{% macro embedding_token_count(predictions, family='text-embedding') %}
    {{- return(adapter.dispatch('embedding_token_count', 'vertex_batch')(predictions, family)) -}}
{% endmacro %}

{% macro default__embedding_token_count(predictions, family) -%}
    {{- vertex_batch._unsupported('embedding_token_count') -}}
{% endmacro %}

{% macro bigquery__embedding_token_count(predictions, family) -%}
    safe_cast(json_value({{ predictions }}, '{{ vertex_batch._embedding_paths(family).tokens }}') as int64)
{%- endmacro %}


{#- Whether the content was longer than the model's input limit and was cut (autoTruncate, on by default) as
    BOOL; NULL when there is no embedding. -#}
{% macro embedding_truncated(predictions, family='text-embedding') %}
    {{- return(adapter.dispatch('embedding_truncated', 'vertex_batch')(predictions, family)) -}}
{% endmacro %}

{% macro default__embedding_truncated(predictions, family) -%}
    {{- vertex_batch._unsupported('embedding_truncated') -}}
{% endmacro %}

{% macro bigquery__embedding_truncated(predictions, family) -%}
    {%- set paths = vertex_batch._embedding_paths(family) -%}
    if(json_query({{ predictions }}, '{{ paths.answered }}') is null, null,
       coalesce(json_value({{ predictions }}, '{{ paths.truncated }}') = 'true', false))
{%- endmacro %}


{#- `predictions` of the landing table of `request_relation` as JSON. Output tables of BigQuery jobs hold it as
    JSON text (STRING); a JSONL job's output loads it as JSON. The column's type is read at compile time. -#}
{% macro _landed_predictions(request_relation, expression='predictions') %}
    {%- set landing = vertex_batch.landing_relation(request_relation) -%}
    {%- if landing is not none -%}
        {%- for found in adapter.get_columns_in_relation(landing) -%}
            {%- if found.name | lower == 'predictions' and found.data_type | upper == 'STRING' -%}
                {{- return('parse_json(' ~ expression ~ ')') -}}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{- return(expression) -}}
{% endmacro %}


{#- The body of a flattened embeddings model: one row per row of the embeddings request model, joined to its
    prediction on key + request_fingerprint (a row whose content, task type, model or dimensionality changed
    since it was embedded shows as not answered), with `embedding` ARRAY<FLOAT64>, `dimensions`, `token_count`,
    `truncated`, `cost_usd` and the status columns: the same columns and types for both embedding families.
    `passthrough` lists other request model columns to carry along. -#}
{% macro flatten_embeddings(request_relation, predictions_relation, key, passthrough=[]) %}
    {{- return(adapter.dispatch('flatten_embeddings', 'vertex_batch')(
        request_relation, predictions_relation, key, passthrough)) -}}
{% endmacro %}

{% macro default__flatten_embeddings(request_relation, predictions_relation, key, passthrough) -%}
    {%- set keys = vertex_batch._as_list(key) -%}
    {%- if not keys -%}
        {{ exceptions.raise_compiler_error("vertex_batch.flatten_embeddings needs `key` (the request model's key columns)") }}
    {%- endif -%}
    {%- set extra = vertex_batch._as_list(passthrough) -%}
    {%- set family = vertex_batch.request_family(request_relation) -%}
with requests as (

    select
    {%- for column in keys + extra %}
        {{ column }},
    {%- endfor %}
        {{ vertex_batch.embedding_fingerprint_of(request_relation) }} as request_fingerprint
    from {{ request_relation }}

),

predictions as (

    select
    {%- for column in keys + ['request_fingerprint', 'predictions', 'status', 'batch_job_name'] %}
        {{ column }},
    {%- endfor %}
        {#- Priced at the landing time: an embeddings predictions model keeps no processing time. #}
        {{ vertex_batch.cost_usd('predictions', vertex_batch.request_model_name(request_relation),
                                'landed_at', vertex_batch.lane_of('batch_job_name')) }} as cost_usd
    from {{ predictions_relation }}

)

select
{%- for column in keys + extra %}
    requests.{{ column }},
{%- endfor %}
    predictions.request_fingerprint is not null as is_answered,
    {{ vertex_batch.embedding_values('predictions.predictions', family) }} as embedding,
    array_length({{ vertex_batch.embedding_values('predictions.predictions', family) }}) as dimensions,
    {{ vertex_batch.embedding_token_count('predictions.predictions', family) }} as token_count,
    {{ vertex_batch.embedding_truncated('predictions.predictions', family) }} as truncated,
    predictions.cost_usd,
    predictions.status,
    {{ vertex_batch.is_success('predictions.status') }} as is_success,
    {{ vertex_batch.error_code('predictions.status') }} as error_code,
    {{ vertex_batch.error_status('predictions.status') }} as error_status,
    {{ vertex_batch.error_message('predictions.status') }} as error_message,
    {{ vertex_batch.is_retryable('predictions.status') }} as is_retryable,
    predictions.batch_job_name
from requests
left join predictions
    on {{ vertex_batch._join_on(keys + ['request_fingerprint'], 'requests', 'predictions') }}
{%- endmacro %}

