{#- The body of a predictions model: one row per key + request_fingerprint (the row identity: see
    request_fingerprint; the runner writes it with every landed row) from the landing table of
    `request_relation`, keeping the latest successful row if there is one, else the latest row (a
    success is never replaced by a failure).

    Use it in an incremental model so answers that were paid for survive rebuilds:

        {{ config(materialized='incremental', incremental_strategy='merge',
                  unique_key=['review_id', 'request_fingerprint'], full_refresh=false) }}
        {{ vertex_batch.accumulate_predictions(ref('demo_review_requests'), key=['review_id']) }}

    On an incremental run only rows landed since the last run are read (`landed_at` watermark), and the
    rows already kept for the same key + fingerprint compete with them, so the merge never downgrades a
    success. -#}
{% macro accumulate_predictions(request_relation, key) %}
    {{- return(adapter.dispatch('accumulate_predictions', 'vertex_batch')(request_relation, key)) -}}
{% endmacro %}

{% macro default__accumulate_predictions(request_relation, key) -%}
    {%- set keys = vertex_batch._as_list(key) -%}
    {%- if not keys -%}
        {{ exceptions.raise_compiler_error("vertex_batch.accumulate_predictions needs `key` (the request model's key columns)") }}
    {%- endif -%}
    {%- set partition = keys + ['request_fingerprint'] -%}
    {%- set kind = vertex_batch.request_kind(request_relation) -%}
    {%- set columns = vertex_batch.prediction_columns(keys, kind) -%}
    {%- set landed_columns = vertex_batch._landed_embedding_columns(request_relation) if kind == 'embed' else {} -%}
    {%- set incremental = is_incremental() -%}
with landed as (

    select
    {%- for column in columns %}
        {{ landed_columns.get(column, 'batch_output.' ~ column) }} as {{ column }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ vertex_batch.batch_output(request_relation) }} as batch_output
    {%- if incremental %}
    where batch_output.landed_at >= (
        select coalesce(max(landed_at), timestamp '1970-01-01 00:00:00+00') from {{ this }})
    {%- endif %}

),

candidates as (

    select * from landed
    {%- if incremental %}

    union all

    {#- Rows kept so far for the keys that got new rows compete with them. #}
    select
    {%- for column in columns %}
        kept.{{ column }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ this }} as kept
    inner join (select distinct {{ partition | join(", ") }} from landed) as touched
        on {{ vertex_batch._join_on(partition, 'kept', 'touched') }}
    {%- endif %}

),

ranked as (

    select
        candidates.*,
        row_number() over (
            partition by {{ partition | join(", ") }}
            order by
                case when {{ vertex_batch.is_success('status') }} then 0 else 1 end,
                {%- if 'processed_time' in columns %}
                processed_time desc nulls last,
                {%- endif %}
                batch_attempt desc nulls last,
                landed_at desc nulls last
        ) as _vb_rank
    from candidates

)

select
{%- for column in columns %}
    {{ column }}{{ "," if not loop.last }}
{%- endfor %}
from ranked
where _vb_rank = 1
{%- endmacro %}


{#- An embeddings predictions model's `content` and `predictions` from the landing table, for both embedding
    families: legacy text-embedding rows land `content` and `predictions` (JSON text from a BigQuery job);
    Gemini embedding rows land `request` (the text in `content.parts[0].text`) and `response` (the
    `EmbedContentResponse`, kept as `predictions`). A landing table holds both kinds once a request model moved from
    one family to the other; only its columns that exist are read. -#}
{% macro _landed_embedding_columns(request_relation) %}
    {%- set family = vertex_batch.request_family(request_relation) -%}
    {%- set landing = vertex_batch.landing_relation(request_relation) -%}
    {%- set present = [] -%}
    {%- if landing is not none -%}
        {%- for found in adapter.get_columns_in_relation(landing) -%}
            {%- do present.append(found.name | lower) -%}
        {%- endfor -%}
    {%- else -%}
        {%- for name, _ in vertex_batch.batch_output_columns(family) -%}
            {%- do present.append(name) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set content = [] -%}
    {%- set predictions = [] -%}
    {%- if 'content' in present -%}
        {%- do content.append('batch_output.content') -%}
        {%- do predictions.append(vertex_batch._landed_predictions(request_relation, 'batch_output.predictions')) -%}
    {%- endif -%}
    {%- if 'response' in present -%}
        {%- set gemini = ["json_value(batch_output.request, '$.content.parts[0].text')"] -%}
        {%- set content = (gemini + content) if family == 'gemini-embedding' else (content + gemini) -%}
        {%- set predictions = (['batch_output.response'] + predictions) if family == 'gemini-embedding'
            else (predictions + ['batch_output.response']) -%}
    {%- endif -%}
    {{- return({'content': 'coalesce(' ~ (content | join(', ')) ~ ')' if content | length > 1 else (content | first),
                'predictions': 'coalesce(' ~ (predictions | join(', ')) ~ ')' if predictions | length > 1 else (predictions | first)}) -}}
{% endmacro %}


{#- The columns of a predictions model, in order; `kind` 'embed' for an embeddings request model (its
    predictions keep `content` and the embedding answer as `predictions` JSON, no `processed_time`). The same
    columns for every family of a kind, so a request model may move to another model and family. -#}
{% macro prediction_columns(key, kind='generate') %}
    {{- return(adapter.dispatch('prediction_columns', 'vertex_batch')(key, kind)) -}}
{% endmacro %}

{% macro default__prediction_columns(key, kind='generate') -%}
    {%- if kind == 'embed' -%}
        {{- return(vertex_batch._as_list(key) + [
            'request_fingerprint', 'content', 'predictions', 'status', 'batch_job_name', 'batch_attempt',
            'landed_at']) -}}
    {%- endif -%}
    {{- return(vertex_batch._as_list(key) + [
        'request_fingerprint', 'request', 'response', 'status', 'processed_time',
        'batch_job_name', 'batch_attempt', 'landed_at']) -}}
{% endmacro %}
