{#- vertex_batch.structured_columns: typed columns and parse_error from JSON answers. -#}
with answers as (
    select * from {{ ref('data_structured') }}
),

parsed as (
    select
        id,
        expected_label,
        expected_score,
        expected_count,
        expected_ok,
        expected_tags,
        expected_parse_error,
        {{ vertex_batch.structured_columns('answer_text', {
            'label': 'STRING',
            'score': 'FLOAT64',
            'count': 'INT64',
            'ok': 'BOOL',
            'tags': 'ARRAY<STRING>'}) }}
    from answers
)

select
    * except (tags),
    -- An array is compared as its elements joined with '|'; '(empty)' for an empty array, NULL for NULL.
    case
        when tags is null then null
        when array_length(tags) = 0 then '(empty)'
        else array_to_string(tags, '|')
    end as tags_joined
from parsed
