"""The ``vertex-batch`` command line: a thin layer over the runner, the local stack and the ledger."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from google.api_core.exceptions import GoogleAPICallError

from vertex_batch.errors import VertexBatchError
from vertex_batch.plan import location_hint
from vertex_batch.report import EXIT_RUNNING
from vertex_batch.settings import RequestModelDefaults, RunSettings, describe

DEMO_RESULTS_MODEL = "demo_review_results"
DEMO_SIMILAR_MODEL = "demo_review_similar_reviews"
# The demo's embeddings step (demo_review_embeddings -> demo_review_similar_reviews) builds with this var.
DEMO_VARS = "{vertex_batch_demo_embeddings: true}"


def _add_dbt_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help="dbt project folder (default: .)")
    parser.add_argument(
        "--profiles-dir",
        type=Path,
        default=None,
        help="folder of profiles.yml (default: dbt's own lookup: ., then ~/.dbt)",
    )
    parser.add_argument("--target", default=None, help="dbt target of the profile")
    parser.add_argument("--vars", default=None, help="dbt vars (YAML), passed to every dbt invocation")
    parser.add_argument(
        "--location", default=None, help="Vertex AI region (default: $VERTEX_BATCH_LOCATION or us-central1)"
    )


def _add_local_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the local stack; defaults and help from ``vertex_batch.local.settings.StackDefaults``."""
    from vertex_batch.local.settings import STACK_DEFAULTS as DEFAULTS
    from vertex_batch.local.settings import StackDefaults

    for flag, kind in (("state_dir", Path), ("backend", str), ("workers", int), ("base_port", int)):
        parser.add_argument(
            f"--{flag.replace('_', '-')}",
            type=kind,
            default=getattr(DEFAULTS, flag),
            help=describe(StackDefaults, flag),
        )


def meta_defaults_help() -> str:
    """The ``meta.vertex_batch`` defaults, as the help's epilog shows them (from ``RequestModelDefaults``)."""
    lines = ["request model settings: meta.vertex_batch.<name>, else dbt var vertex_batch_<name>, else the default:"]
    lines += [f"  {name}: {describe(RequestModelDefaults, name)}" for name in RequestModelDefaults.model_fields]
    return "\n".join(lines)


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of build, submit and resume; defaults and help from ``settings.RunSettings``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = meta_defaults_help()
    _add_dbt_arguments(parser)
    parser.add_argument("-s", "--select", nargs="+", default=[], help="dbt selectors (default: the whole project)")
    parser.add_argument("--exclude", nargs="+", default=[], help="dbt selectors to leave out")
    parser.add_argument(
        "--max-cost",
        type=float,
        default=None,
        help="USD budget of the run (default: dbt var vertex_batch_max_cost): nothing is submitted when the "
        "estimate is above it, and no later job (chunk or retry round) that would take spent + in flight above "
        "it; a model without a price is refused",
    )
    parser.add_argument(
        "--full-refresh-predictions",
        action="store_true",
        help="submit every row again, even those already answered (pays again)",
    )
    parser.add_argument(
        "--max-concurrent-jobs", type=int, default=None, help=describe(RunSettings, "max_concurrent_jobs")
    )
    parser.add_argument("--poll-seconds", type=float, default=None, help=describe(RunSettings, "poll_seconds"))
    parser.add_argument(
        "--retry-backoff", type=float, default=None, help=describe(RunSettings, "retry_backoff_seconds")
    )
    parser.add_argument("--keep-tables", action="store_true", help="keep the staged input and raw job output tables")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    parser.add_argument("--local", action="store_true", help="start (or reuse) the local stack and run against it")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vertex-batch",
        description="Run Gemini batch predictions over dbt request models (Vertex AI or the local stack).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser(
        "build", help="build request models, run their batch jobs, build downstream models (waits)"
    )
    _add_run_arguments(build)
    build.add_argument(
        "--dry-run", action="store_true", help="print rows, tokens and cost per request model; submit nothing"
    )
    build.add_argument("--detach", action="store_true", help="on Ctrl-C leave the jobs running instead of cancelling")
    _add_local_arguments(build)

    submit = commands.add_parser(
        "submit", help="build the request models, submit their jobs, print the run id and exit (schedulers)"
    )
    _add_run_arguments(submit)
    _add_local_arguments(submit)

    resume = commands.add_parser(
        "resume",
        help="land finished jobs, resubmit retryable rows, build downstream when all landed; "
        f"exit 0 when done, {EXIT_RUNNING} while jobs still run",
    )
    _add_run_arguments(resume)
    resume.add_argument("--run", default=None, help="run id (default: the latest run in the ledger)")
    resume.add_argument("--wait", action="store_true", help="wait until every job has landed")
    resume.add_argument("--detach", action="store_true", help="on Ctrl-C leave the jobs running instead of cancelling")
    _add_local_arguments(resume)

    demo = commands.add_parser("demo", help="run the demo project end to end on the local stack and print results")
    _add_local_arguments(demo)
    demo.add_argument("--keep-running", action="store_true", help="leave the local stack running afterwards")
    demo.add_argument("--rows", type=int, default=12, help="flattened rows to print")

    local = commands.add_parser("local", help="manage the local stack (BigQuery, GCS, batch service)")
    local.add_argument("action", choices=["up", "down", "status", "env"])
    _add_local_arguments(local)

    status = commands.add_parser(
        "status", help="jobs of the ledger (latest run, or --run), and its cost per request model"
    )
    _add_dbt_arguments(status)
    status.add_argument("--run", default=None, help="run id (default: the latest run)")
    status.add_argument("--json", action="store_true")

    cancel = commands.add_parser("cancel", help="cancel the jobs of a run (completed rows are kept)")
    _add_dbt_arguments(cancel)
    cancel.add_argument("--run", default=None, help="run id (default: the latest run)")

    doctor = commands.add_parser(
        "doctor", help="check credentials, API, model, locations and IAM before a run (one line per check)"
    )
    _add_dbt_arguments(doctor)
    doctor.add_argument("-s", "--select", nargs="+", default=[], help="dbt selectors (default: every request model)")
    return parser


def _stack(args: argparse.Namespace):
    from vertex_batch.local.stack import LocalStack, StackConfig

    base = args.base_port
    return LocalStack(
        StackConfig(
            state_dir=args.state_dir,
            backend=args.backend,
            workers=args.workers,
            bigquery_port=base,
            bigquery_grpc_port=base + 1,
            gcs_port=base + 2,
            vertex_port=base + 3,
        )
    )


def _use_local_stack(args: argparse.Namespace, dataset: str | None = None) -> bool:
    """Start the local stack unless it runs; point dbt and the clients at it. True if started here."""
    stack = _stack(args)
    running = all(state.startswith("running") for state in stack.status().values())
    if not running:
        print(f"starting the local stack in {args.state_dir} (model backend: {args.backend})", file=sys.stderr)
        stack.up()
    env = stack.config.client_env(dataset or os.environ.get("VERTEX_BATCH_DATASET", "vertex_batch_demo"))
    os.environ.update(env)
    return not running


def _dbt_project(args: argparse.Namespace, quiet: bool = False):
    from vertex_batch.dbt_graph import DbtProject

    profiles = args.profiles_dir
    if profiles is None and (args.project_dir / "profiles" / "profiles.yml").exists():
        profiles = args.project_dir / "profiles"
    return DbtProject(
        project_dir=args.project_dir.resolve(),
        profiles_dir=profiles,
        target=args.target,
        quiet=quiet,
        vars=getattr(args, "vars", None),
    )


def _options(args: argparse.Namespace, run_id: str | None = None):
    """``BuildOptions`` from the flags over ``RunSettings`` (environment ``VERTEX_BATCH_*``, then defaults)."""
    from vertex_batch.connections import ENV_API_ENDPOINT
    from vertex_batch.runner import BuildOptions, new_run_id

    local = bool(os.environ.get(ENV_API_ENDPOINT))
    given = {
        "max_concurrent_jobs": args.max_concurrent_jobs,
        "poll_seconds": args.poll_seconds,
        "retry_backoff_seconds": args.retry_backoff,
    }
    settings = RunSettings(**{name: value for name, value in given.items() if value is not None})
    return BuildOptions(
        selectors=tuple(args.select),
        excludes=tuple(args.exclude),
        dry_run=getattr(args, "dry_run", False),
        max_cost=args.max_cost,
        full_refresh_predictions=args.full_refresh_predictions,
        detach=getattr(args, "detach", False),
        max_concurrent_jobs=settings.max_concurrent_jobs,
        poll_seconds=settings.poll(local),
        retry_backoff_seconds=settings.backoff(local),
        keep_tables=args.keep_tables,
        location=args.location,
        run_id=run_id or new_run_id(),
    )


def _runner(args: argparse.Namespace, run_id: str | None = None, quiet: bool = False, dbt=None):
    from vertex_batch.connections import ENV_API_ENDPOINT
    from vertex_batch.progress import Progress
    from vertex_batch.runner import Runner

    if args.local:
        _use_local_stack(args)
    local = bool(os.environ.get(ENV_API_ENDPOINT))
    progress = Progress(interval=5.0 if local else 30.0)
    return Runner(dbt or _dbt_project(args, quiet=quiet or args.json), _options(args, run_id), progress)


def _finish(args: argparse.Namespace, report, exit_code: int | None = None) -> int:
    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
    _print_outcome(report)
    return report.exit_code if exit_code is None else exit_code


def _build(args: argparse.Namespace) -> int:
    report = _runner(args).build()
    return _finish(args, report)


def _submit(args: argparse.Namespace) -> int:
    """Submit and return: the run id alone on stdout (dbt's log is quiet), exit 0 whatever the jobs will do."""
    from vertex_batch.report import EXIT_BUDGET, EXIT_FAILED

    report = _runner(args, quiet=True).submit()
    if not args.json:
        print(report.run_id)
    code = report.exit_code
    return _finish(args, report, code if code in (EXIT_BUDGET, EXIT_FAILED) else 0)


def _resume(args: argparse.Namespace) -> int:
    if args.local:
        _use_local_stack(args)
    dbt = _dbt_project(args, quiet=args.json)  # parsed once, for the ledger and the run
    run = args.run or _latest_run(args, dbt)
    if run is None:
        print("no run in the ledger yet: run `vertex-batch submit` first", file=sys.stderr)
        return 0
    report = _runner(args, run_id=run, dbt=dbt).resume(wait=args.wait)
    return _finish(args, report)


def _print_outcome(report) -> None:
    from vertex_batch.report import EXIT_BUDGET, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL

    words = {
        EXIT_OK: "every job succeeded",
        EXIT_RUNNING: "jobs still running; run `vertex-batch resume` again later",
        EXIT_BUDGET: f"stopped by the budget: {report.budget_stop}",
        EXIT_PARTIAL: "finished, but some rows failed permanently (see the results' error columns)",
        EXIT_FAILED: "at least one job did not succeed",
        EXIT_INTERRUPTED: "interrupted",
    }
    if report.exit_code not in words:
        return
    verb = "dry run" if report.dry_run else "run"
    print(f"vertex-batch {verb} {report.run_id}: {words[report.exit_code]}", file=sys.stderr)


def _demo(args: argparse.Namespace) -> int:
    from vertex_batch.connections import Connections
    from vertex_batch.progress import Progress
    from vertex_batch.runner import EXIT_PARTIAL, BuildOptions, Runner

    root = Path(__file__).resolve().parent.parent
    started = _use_local_stack(args, dataset="vertex_batch_demo")
    try:
        dbt_args = argparse.Namespace(project_dir=root, profiles_dir=root / "profiles", target=None, vars=DEMO_VARS)
        options = BuildOptions(poll_seconds=1.0, retry_backoff_seconds=2.0)
        report = Runner(_dbt_project(dbt_args), options, Progress(interval=5.0)).build()
        _print_outcome(report)
        if report.exit_code not in (0, EXIT_PARTIAL):
            return report.exit_code
        connections = Connections.from_env(os.environ["VERTEX_BATCH_PROJECT"])
        _print_results(connections, os.environ["VERTEX_BATCH_DATASET"], args.rows)
        _print_similar(connections, os.environ["VERTEX_BATCH_DATASET"], min(args.rows, 5))
        # The demo seeds one request with an invalid role on purpose: a partial result is the expected one.
        return 0
    finally:
        if started and not args.keep_running:
            _stack(args).down()


def _print_results(connections, dataset: str, limit: int) -> None:
    client = connections.bigquery_client()
    table = f"`{connections.project}.{dataset}.{DEMO_RESULTS_MODEL}`"
    rows = list(
        client.query(
            f"SELECT review_id, response_text, finish_reason, prompt_tokens, candidate_tokens, model_version, "
            f"is_success, error_code, error_message FROM {table} "
            f"ORDER BY is_success, review_id LIMIT {int(limit)}"
        ).result()
    )
    totals = next(
        iter(client.query(f"SELECT COUNT(*), COUNTIF(is_success), COUNTIF(NOT is_success) FROM {table}").result())
    )
    print(f"\n{DEMO_RESULTS_MODEL}: {totals[0]} rows, {totals[1]} answered by the local model, {totals[2]} failed\n")
    header = ["review_id", "response_text", "finish", "in", "out", "model_version", "ok", "error"]
    lines = [header]
    for row in rows:
        error = f"{row['error_code']} {row['error_message']}" if row["error_code"] else ""
        text = (row["response_text"] or "").replace("\n", " ")[:40]
        lines.append(
            [
                str(row["review_id"]),
                text,
                str(row["finish_reason"] or ""),
                str(row["prompt_tokens"] or ""),
                str(row["candidate_tokens"] or ""),
                str(row["model_version"] or ""),
                str(row["is_success"]),
                error[:60],
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _print_similar(connections, dataset: str, limit: int) -> None:
    """A few reviews with their most similar other review (the demo's embeddings step)."""
    client = connections.bigquery_client()
    table = f"`{connections.project}.{dataset}.{DEMO_SIMILAR_MODEL}`"
    rows = list(
        client.query(
            f"SELECT review_id, review_text, similar_review_id, similar_review_text, cosine_similarity FROM {table} "
            f"WHERE review_text != similar_review_text ORDER BY cosine_similarity DESC, review_id LIMIT {int(limit)}"
        ).result()
    )
    print(f"\n{DEMO_SIMILAR_MODEL}: most similar reviews by cosine similarity of their embeddings\n")
    for row in rows:
        print(
            f"  {row['cosine_similarity']:.3f}  #{row['review_id']} {row['review_text'][:40]!r}  ~  "
            f"#{row['similar_review_id']} {row['similar_review_text'][:40]!r}"
        )


def _local(args: argparse.Namespace) -> int:
    stack = _stack(args)
    if args.action == "up":
        stack.up()
    elif args.action == "down":
        stack.down()
    elif args.action == "env":
        for key, value in stack.config.client_env().items():
            print(f"export {key}={value}")
        return 0
    for name, state in stack.status().items():
        print(f"{name:9s} {state}")
    return 0


def _ledger_rows(args: argparse.Namespace, run: str | None = None, dbt=None):
    """Ledger entries of ``run`` (default ``args.run``, else the latest run), with the connections to reach them."""
    from vertex_batch.connections import Connections
    from vertex_batch.landing import ledger_table
    from vertex_batch.ledger import Ledger
    from vertex_batch.warehouse import Warehouse

    manifest = (dbt or _dbt_project(args, quiet=True)).parse()
    tables = sorted({ledger_table(node.table_id) for node in manifest.request_models()})
    entries = []
    for table in tables:
        connections = Connections.from_env(table.split(".", 1)[0], args.location)
        ledger = Ledger(Warehouse(connections.bigquery_client()), table)
        entries += [(connections, entry) for entry in ledger.entries()]
    run = run or getattr(args, "run", None) or max((entry.run_id for _, entry in entries), default=None)
    return run, [(c, e) for c, e in entries if e.run_id == run]


def _latest_run(args: argparse.Namespace, dbt=None) -> str | None:
    run, _ = _ledger_rows(args, None, dbt)
    return run


def _doctor(args: argparse.Namespace) -> int:
    """One line per check; exit 2 when one of them blocks a run."""
    from vertex_batch.doctor import exit_code, project_checks

    checks = project_checks(_dbt_project(args, quiet=True), args.location, args.select)
    for check in checks:
        print(check.line())
    return exit_code(checks)


def _status(args: argparse.Namespace) -> int:
    from vertex_batch.job_client import JobClient
    from vertex_batch.usage import summarize_costs

    run, entries = _ledger_rows(args)
    if not entries:
        print("no jobs in the ledger yet" if run is None else f"no jobs for run {run}")
        return 0
    rows = []
    for connections, entry in entries:
        snapshot = JobClient(connections).get(entry.job_name)
        rows.append(
            {
                "job": entry.job_name,
                "request_model": entry.request_model,
                "attempt": entry.attempt,
                "chunk": entry.chunk,
                "state": snapshot.state_name,
                "rows": entry.rows_submitted,
                "successful": snapshot.successful,
                "failed": snapshot.failed,
                "landed": entry.landed,
            }
        )
    costs = summarize_costs(entry for _, entry in entries)
    if args.json:
        print(json.dumps({"run_id": run, "jobs": rows, "cost": costs.to_json()}, indent=2))
        return 0
    print(f"run {run}")
    for row in rows:
        print(
            f"  {row['request_model']} a{row['attempt']} c{row['chunk']} {row['state']:<20} "
            f"{row['successful']}/{row['rows']} ok, {row['failed']} failed, landed={row['landed']}  {row['job']}"
        )
    for line in costs.describe():
        print(line)
    return 0


def _cancel(args: argparse.Namespace) -> int:
    from vertex_batch.job_client import JobClient

    run, entries = _ledger_rows(args)
    live = [(c, e) for c, e in entries if not e.landed]
    if not live:
        print(f"run {run}: nothing to cancel")
        return 0
    for connections, entry in live:
        JobClient(connections).cancel(entry.job_name)
        print(f"cancel requested: {entry.job_name} (completed rows are kept; `vertex-batch resume` lands them)")
    return 0


COMMANDS = {
    "build": _build,
    "submit": _submit,
    "resume": _resume,
    "demo": _demo,
    "local": _local,
    "status": _status,
    "cancel": _cancel,
    "doctor": _doctor,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except VertexBatchError as error:
        print(f"error: {location_hint(str(error)) or error}", file=sys.stderr)
        return error.exit_code
    except GoogleAPICallError as error:
        hint = location_hint(str(error))
        if hint is None and args.debug:
            raise
        print(f"error: {hint or error}", file=sys.stderr)
        return 2 if hint else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        if type(error).__module__.startswith("vertex_batch.local"):
            print(f"error: local stack: {error}", file=sys.stderr)
            return 1
        print(f"error: {type(error).__name__}: {error} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
