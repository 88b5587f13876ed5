"""Command line of the local batch-prediction service: ``python -m vertex_batch.local.service --port P …``."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from vertex_batch.local.service.config import FaultConfig, ServiceConfig
from vertex_batch.local.service.faults import fault_config_from_env


def _option(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value: object = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.replace("-", "_"), value


def parser() -> argparse.ArgumentParser:
    """The service's command-line options."""
    env_faults = fault_config_from_env()
    p = argparse.ArgumentParser(prog="python -m vertex_batch.local.service", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (keep 127.0.0.1)")
    p.add_argument("--port", type=int, default=9070)
    p.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".state/local/vertex"),
        help="folder for the job store and input snapshots",
    )
    p.add_argument("--project", default="local-project", help="project id of the local project")
    p.add_argument("--project-number", default="100000000001", help="project number of the same project")
    p.add_argument(
        "--bigquery-endpoint",
        default=os.environ.get("BIGQUERY_EMULATOR_HOST"),
        help="BigQuery API endpoint, e.g. http://127.0.0.1:9050",
    )
    p.add_argument(
        "--gcs-endpoint",
        default=os.environ.get("STORAGE_EMULATOR_HOST"),
        help="Cloud Storage endpoint, e.g. http://127.0.0.1:9023",
    )
    p.add_argument("--backend", default="fake-fast-test", help="model backend: smollm2, fake-fast-test, openai")
    p.add_argument(
        "--backend-option",
        action="append",
        type=_option,
        default=[],
        metavar="KEY=VALUE",
        help="option for the backend's constructor (JSON value or text); repeatable",
    )
    p.add_argument("--workers", type=int, default=2, help="jobs run at once")
    p.add_argument("--model-batch-size", type=int, default=16, help="prompts per backend call")
    p.add_argument("--chunk-rows", type=int, default=64, help="output rows per write")
    p.add_argument("--chunk-seconds", type=float, default=5.0, help="write pending rows at least this often")
    p.add_argument("--queue-timeout-s", type=float, default=72 * 3600.0, help="PENDING longer → FAILED, code 4")
    p.add_argument(
        "--run-timeout-s", type=float, default=24 * 3600.0, help="RUNNING longer → FAILED, code 4 (completed rows kept)"
    )
    p.add_argument("--max-requests-per-job", type=int, default=200_000)
    p.add_argument(
        "--keep-input-order",
        action="store_true",
        default=os.environ.get("VERTEX_LOCAL_KEEP_INPUT_ORDER", "").lower() in ("1", "true", "yes"),
        help="debugging: write output rows in input order (default: shuffled per chunk, as Vertex AI)",
    )
    p.add_argument(
        "--default-max-output-tokens",
        type=int,
        default=256,
        help="maxOutputTokens for requests that set none",
    )
    p.add_argument(
        "--fault-api-error-rate",
        type=float,
        default=env_faults.api_error_rate,
        help="fraction of API calls answered 429/503",
    )
    p.add_argument(
        "--fault-row-error-rate",
        type=float,
        default=env_faults.row_error_rate,
        help="fraction of rows failed with a retryable 429/503/500 status",
    )
    p.add_argument(
        "--fault-row-delay-s",
        type=float,
        default=env_faults.row_delay_s,
        help="extra seconds spent on each row",
    )
    p.add_argument("--fault-seed", type=int, default=env_faults.seed, help="seed for reproducible faults")
    p.add_argument("--log-level", default="INFO")
    return p


def config_from_args(args: argparse.Namespace) -> ServiceConfig:
    """The service configuration for parsed arguments."""
    return ServiceConfig(
        state_dir=args.state_dir,
        host=args.host,
        port=args.port,
        project=args.project,
        project_number=args.project_number,
        bigquery_endpoint=args.bigquery_endpoint,
        gcs_endpoint=args.gcs_endpoint,
        backend=args.backend,
        backend_options=dict(args.backend_option),
        workers=args.workers,
        model_batch_size=args.model_batch_size,
        chunk_rows=args.chunk_rows,
        chunk_seconds=args.chunk_seconds,
        queue_timeout_s=args.queue_timeout_s,
        run_timeout_s=args.run_timeout_s,
        max_requests_per_job=args.max_requests_per_job,
        keep_input_order=args.keep_input_order,
        default_max_output_tokens=args.default_max_output_tokens,
        faults=FaultConfig(
            api_error_rate=args.fault_api_error_rate,
            row_error_rate=args.fault_row_error_rate,
            row_delay_s=args.fault_row_delay_s,
            seed=args.fault_seed,
        ),
    )


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until stopped."""
    import uvicorn

    from vertex_batch.local.service.app import create_app

    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config_from_args(args)
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
