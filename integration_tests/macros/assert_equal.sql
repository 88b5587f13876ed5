{#- Rows where `actual` differs from `expected` (NULL equals NULL), like dbt-utils' assert_equal. -#}
{% test assert_equal(model, actual, expected) %}
select *
from {{ model }}
where not coalesce({{ actual }} = {{ expected }}, ({{ actual }}) is null and ({{ expected }}) is null)
{% endtest %}

{#- The model has exactly `rows` rows. -#}
{% test row_count(model, rows) %}
select count(*) as actual_rows
from {{ model }}
having count(*) != {{ rows }}
{% endtest %}
