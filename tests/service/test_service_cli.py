"""The service's command line accepts what the stack launcher passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from vertex_batch.local.service.__main__ import config_from_args, parser
from vertex_batch.local.stack import StackConfig, server_specs

pytestmark = pytest.mark.unit


def test_stack_launcher_arguments_parse(tmp_path: Path) -> None:
    stack = StackConfig.with_free_ports(
        tmp_path,
        backend="fake-fast-test",
        workers=3,
        service_args=("--chunk-rows", "10", "--backend-option", "x=2"),
    )
    (spec,) = [spec for spec in server_specs(stack) if spec.name == "vertex"]
    module_at = spec.command.index("vertex_batch.local.service")
    config = config_from_args(parser().parse_args(spec.command[module_at + 1 :]))
    assert (config.host, config.port) == ("127.0.0.1", stack.vertex_port)
    assert (config.project, config.project_number) == (stack.project, stack.project_number)
    assert (config.bigquery_endpoint, config.gcs_endpoint) == (stack.bigquery_url, stack.gcs_url)
    assert (config.backend, config.workers, config.chunk_rows) == ("fake-fast-test", 3, 10)
    assert config.backend_options == {"x": 2}
    assert config.state_dir == (tmp_path / "vertex").resolve()
    assert config.max_requests_per_job == 200_000
    assert not config.faults.enabled


def test_fault_flags_and_no_model_list() -> None:
    """The served models come from the model catalog: there is no ``--models`` flag any more."""
    with pytest.raises(SystemExit):
        parser().parse_args(["--models", "gemini-a"])
    args = parser().parse_args(
        [
            "--fault-api-error-rate",
            "0.1",
            "--fault-seed",
            "4",
            "--run-timeout-s",
            "9",
        ]
    )
    config = config_from_args(args)
    assert config.faults.api_error_rate == 0.1 and config.faults.seed == 4
    assert config.run_timeout_s == 9
