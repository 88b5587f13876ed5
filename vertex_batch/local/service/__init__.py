"""The local Vertex AI batch-prediction service: ``projects.locations.batchPredictionJobs`` over REST.

It speaks the same JSON as Vertex AI, so google-cloud-aiplatform (REST transport) and google-genai work
against it unchanged; jobs read BigQuery tables or JSONL files on Cloud Storage (the local emulators) and
answer each request with a local model backend. Start it with ``python -m vertex_batch.local.service``
(see ``__main__`` for the options); ``vertex_batch.local.stack`` starts it beside the emulators.

Modules: ``app`` (routes), ``create`` (create-body checks), ``served_models`` (what is served where and
when, from the model catalog), ``resources`` (job JSON), ``filters`` (list filters), ``store`` (sqlite job
store), ``executor`` (worker pool), ``families`` and ``family*`` (each model family's rows: ``family_gemini``,
``family_claude``, ``family_chat``, ``family_gemini_embedding``, ``embeddings`` for text embeddings),
``snapshot`` (input copies), ``outputs``, ``bigquery_io`` and ``gcs_io`` (job IO), ``model_host`` (backend
loading), ``faults`` (fault injection), ``config`` (settings), ``errors``.
"""
