{#- GENERATED from vertex_batch/prices.csv by `python -m vertex_batch.costs`: do not edit by hand.
    The batch cost of one row per price-table model, as SQL over the placeholders
    {prompt}, {candidates}, {thoughts}, {cached_content}, {tool_use_prompt} (token counts). -#}
{% macro _cost_formulas() %}
    {{- return({
        'gemini-2.0-flash': '(greatest({prompt} - {cached_content}, 0) * 0.15 * 0.5 + {tool_use_prompt} * 0.15 * 0.5 + {cached_content} * 0.0375 + ({candidates} + {thoughts}) * 0.6 * 0.5) / 1000000',
        'gemini-2.0-flash-lite': '(greatest({prompt} - {cached_content}, 0) * 0.075 * 0.5 + {tool_use_prompt} * 0.075 * 0.5 + {cached_content} * 0.075 + ({candidates} + {thoughts}) * 0.3 * 0.5) / 1000000',
        'gemini-2.5-flash': '(greatest({prompt} - {cached_content}, 0) * 0.3 * 0.5 + {tool_use_prompt} * 0.3 * 0.5 + {cached_content} * 0.03 + ({candidates} + {thoughts}) * 2.5 * 0.5) / 1000000',
        'gemini-2.5-flash-lite': '(greatest({prompt} - {cached_content}, 0) * 0.1 * 0.5 + {tool_use_prompt} * 0.1 * 0.5 + {cached_content} * 0.01 + ({candidates} + {thoughts}) * 0.4 * 0.5) / 1000000',
        'gemini-2.5-pro': 'case when {prompt} > 200000 then (greatest({prompt} - {cached_content}, 0) * 2.5 * 0.5 + {tool_use_prompt} * 2.5 * 0.5 + {cached_content} * 0.25 + ({candidates} + {thoughts}) * 15.0 * 0.5) / 1000000 else (greatest({prompt} - {cached_content}, 0) * 1.25 * 0.5 + {tool_use_prompt} * 1.25 * 0.5 + {cached_content} * 0.125 + ({candidates} + {thoughts}) * 10.0 * 0.5) / 1000000 end'
    }) -}}
{% endmacro %}
