"""vertex-batch: Gemini batch predictions over warehouse tables, driven by dbt."""

__version__ = "0.1.0"
