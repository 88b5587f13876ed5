"""The ``vertex-batch`` command line: thin commands over the runner's API, the local stack and the model catalog."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from vertex_batch.errors import VertexBatchError
from vertex_batch.location_errors import location_hint
from vertex_batch.report import EXIT_BUDGET, EXIT_FAILED, EXIT_RUNNING
from vertex_batch.settings import RequestModelDefaults, RunSettings, describe


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
    parser.add_argument(
        "--lane", choices=("auto", "batch", "flex", "online"), default=None, help=describe(RunSettings, "lane")
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

    models = commands.add_parser("models", help="the model catalog: models, status, retirement, prices")
    models.add_argument("--json", action="store_true", help="a JSON list of objects")
    models.add_argument("--all", action="store_true", help="also retired models")
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
    os.environ.update(stack.config.client_env(dataset or os.environ.get("VERTEX_BATCH_DATASET", "vertex_batch_demo")))
    return not running


def _is_local() -> bool:
    from vertex_batch.connections import ENV_API_ENDPOINT

    return bool(os.environ.get(ENV_API_ENDPOINT))


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
    from vertex_batch.runner import BuildOptions, new_run_id

    given = {
        "max_concurrent_jobs": getattr(args, "max_concurrent_jobs", None),
        "poll_seconds": getattr(args, "poll_seconds", None),
        "retry_backoff_seconds": getattr(args, "retry_backoff", None),
        "lane": getattr(args, "lane", None),
    }
    settings = RunSettings(**{name: value for name, value in given.items() if value is not None})
    return BuildOptions.resolve(
        settings,
        local=_is_local(),
        selectors=tuple(getattr(args, "select", ())),
        excludes=tuple(getattr(args, "exclude", ())),
        dry_run=getattr(args, "dry_run", False),
        max_cost=getattr(args, "max_cost", None),
        full_refresh_predictions=getattr(args, "full_refresh_predictions", False),
        detach=getattr(args, "detach", False),
        keep_tables=getattr(args, "keep_tables", False),
        location=args.location,
        run_id=run_id or new_run_id(),
    )


def _runner(args: argparse.Namespace, run_id: str | None = None, quiet: bool = False, dbt=None):
    """The runner of the command: the dbt project, the options, the cloud (or local stack) adapters."""
    from vertex_batch.progress import Progress
    from vertex_batch.runner import Runner
    from vertex_batch.wiring import CloudBackends

    if getattr(args, "local", False):
        _use_local_stack(args)
    progress = Progress(interval=5.0 if _is_local() else 30.0)
    dbt = dbt or _dbt_project(args, quiet=quiet or getattr(args, "json", False))
    return Runner(dbt, _options(args, run_id), CloudBackends(args.location), progress)


def _finish(args: argparse.Namespace, report, exit_code: int | None = None) -> int:
    from vertex_batch.views import print_outcome

    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
    print_outcome(report)
    return report.exit_code if exit_code is None else exit_code


def _build(args: argparse.Namespace) -> int:
    return _finish(args, _runner(args).build())


def _submit(args: argparse.Namespace) -> int:
    """Submit and return: the run id alone on stdout (dbt's log is quiet), exit 0 whatever the jobs will do."""
    report = _runner(args, quiet=True).submit()
    if not args.json:
        print(report.run_id)
    code = report.exit_code
    return _finish(args, report, code if code in (EXIT_BUDGET, EXIT_FAILED) else 0)


def _resume(args: argparse.Namespace) -> int:
    finder = _runner(args)  # parses the project once, for the ledger lookup and the run
    run = args.run or finder.latest_run()
    if run is None:
        print("no run in the ledger yet: run `vertex-batch submit` first", file=sys.stderr)
        return 0
    return _finish(args, _runner(args, run_id=run, dbt=finder.dbt).resume(wait=args.wait))


def _demo(args: argparse.Namespace) -> int:
    from vertex_batch.demo import DEMO_DATASET, run_demo
    from vertex_batch.progress import Progress

    started = _use_local_stack(args, dataset=DEMO_DATASET)
    try:
        return run_demo(Progress(interval=5.0), args.rows)
    finally:
        if started and not args.keep_running:
            _stack(args).down()


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


def _doctor(args: argparse.Namespace) -> int:
    """One line per check; exit 2 when one of them blocks a run."""
    from vertex_batch.checks import exit_code
    from vertex_batch.doctor import project_checks

    checks = project_checks(_dbt_project(args, quiet=True), args.location, args.select)
    for check in checks:
        print(check.line())
    return exit_code(checks)


def _status(args: argparse.Namespace) -> int:
    from vertex_batch.views import print_status

    print_status(_runner(args, quiet=True).status(args.run), args.json)
    return 0


def _cancel(args: argparse.Namespace) -> int:
    run, cancelled = _runner(args, quiet=True).cancel(args.run)
    if not cancelled:
        print(f"run {run}: nothing to cancel")
    for name in cancelled:
        print(f"cancel requested: {name} (completed rows are kept; `vertex-batch resume` lands them)")
    return 0


def _models(args: argparse.Namespace) -> int:
    from vertex_batch.catalog import catalog, utc_today
    from vertex_batch.views import print_models

    print_models(catalog(), utc_today(), args.json, args.all)
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
    "models": _models,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except VertexBatchError as error:
        prefix = "" if error.exit_code == EXIT_RUNNING else "error: "  # 75: busy, try again later (not a failure)
        print(f"{prefix}{location_hint(str(error)) or error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        hint = location_hint(str(error))
        detail = hint or f"{type(error).__name__}: {error} (rerun with --debug for the traceback)"
        print(f"error: {detail}", file=sys.stderr)
        return 2 if hint else 1


if __name__ == "__main__":
    sys.exit(main())
