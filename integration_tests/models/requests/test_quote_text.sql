{#- vertex_batch.quote_text: a constant text with a quote, double quotes, a backslash and a line break. -#}
select
    {{ vertex_batch.quote_text("It's \"q\" \\ back\nline") }} as actual,
    concat('It', code_points_to_string([39]), 's "q" ', code_points_to_string([92]), ' back',
           code_points_to_string([10]), 'line') as expected
