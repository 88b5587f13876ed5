"""The service's settings: the flags the stack launcher passes, ``VERTEX_LOCAL_*`` variables, one-line errors,
and one owner of the stack's defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from vertex_batch.cli import build_parser
from vertex_batch.local.service.__main__ import main, one_line
from vertex_batch.local.service.config import ServiceConfig, settings_from_command_line
from vertex_batch.local.settings import STACK_DEFAULTS
from vertex_batch.local.stack import StackConfig, server_specs

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _no_local_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings from a developer's shell must not leak into these tests."""
    for name in [name for name in os.environ if name.startswith("VERTEX_LOCAL_")]:
        monkeypatch.delenv(name)


def test_stack_launcher_arguments_parse(tmp_path: Path) -> None:
    stack = StackConfig.with_free_ports(
        tmp_path,
        backend="fake-fast-test",
        workers=3,
        service_args=("--chunk-rows", "10", "--backend-option", "x=2", "--backend-option", "path=/m.gguf"),
    )
    (spec,) = [spec for spec in server_specs(stack) if spec.name == "vertex"]
    module_at = spec.command.index("vertex_batch.local.service")
    config = settings_from_command_line(spec.command[module_at + 1 :])
    assert (config.host, config.port) == ("127.0.0.1", stack.vertex_port)
    assert (config.project, config.project_number) == (stack.project, stack.project_number)
    assert (config.bigquery_endpoint, config.gcs_endpoint) == (stack.bigquery_url, stack.gcs_url)
    assert (config.backend, config.workers, config.chunk_rows) == ("fake-fast-test", 3, 10)
    assert config.backend_option == {"x": 2, "path": "/m.gguf"}
    assert config.state_dir == (tmp_path / "vertex").resolve()
    assert config.max_requests_per_job == 200_000 and config.queue_delay_s == 0
    assert "models" not in ServiceConfig.model_fields


def test_flags_over_environment_over_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "FAULT_API_ERROR_RATE": "0.1", "FAULT_SEED": "9", "QUEUE_DELAY_S": "2.5", "FLEX_THROTTLE_RATE": "0.25",
        "KEEP_INPUT_ORDER": "1", "FAULT_CREATE_LOST_REPLY_RATE": "0.5", "ONLINE_CONCURRENCY": "2",
    }.items():  # fmt: skip
        monkeypatch.setenv(f"VERTEX_LOCAL_{name}", value)
    config = settings_from_command_line(["--fault-api-error-rate", "0.3", "--run-timeout-s", "9", "--workers", "1"])
    assert (config.fault_api_error_rate, config.fault_seed, config.run_timeout_s) == (0.3, 9, 9)
    assert (config.queue_delay_s, config.flex_throttle_rate, config.fault_create_lost_reply_rate) == (2.5, 0.25, 0.5)
    assert config.keep_input_order and config.online_concurrency == 2 and config.workers == 1
    assert not settings_from_command_line(["--no-keep-input-order"]).keep_input_order


def test_repeated_flags_keep_the_last(tmp_path: Path) -> None:
    """The test helpers pass ``--backend fake-fast-test`` and then a test's own ``--backend smollm2``."""
    config = settings_from_command_line(["--backend", "fake-fast-test", "--backend", "smollm2", "--workers", "2"])
    assert config.backend == "smollm2"


def test_a_bad_setting_is_one_line_naming_flag_and_variable() -> None:
    with pytest.raises(ValidationError) as info:
        settings_from_command_line(["--flex-throttle-rate", "1.5"])
    line = one_line(info.value)
    assert "\n" not in line and "--flex-throttle-rate (VERTEX_LOCAL_FLEX_THROTTLE_RATE)" in line
    with pytest.raises(SystemExit) as exit_info:
        main(["--chunk-rows", "0"])
    assert "\n" not in str(exit_info.value.code) and "--chunk-rows" in str(exit_info.value.code)


def test_every_setting_is_documented_and_help_works(capsys: pytest.CaptureFixture[str]) -> None:
    assert all(field.description for field in ServiceConfig.model_fields.values())
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    shown = capsys.readouterr().out
    for flag in ("--state-dir", "--backend-option", "--fault-create-lost-reply-rate", "--flex-throttle-rate"):
        assert flag in shown


def test_the_stack_defaults_have_one_owner() -> None:
    service, stack = ServiceConfig(), StackConfig()
    local = build_parser().parse_args(["local", "status"])
    assert service.backend == stack.backend == local.backend == STACK_DEFAULTS.backend
    assert service.workers == stack.workers == local.workers == STACK_DEFAULTS.workers
    assert service.port == stack.vertex_port == local.base_port + 3
    assert stack.bigquery_port == local.base_port and stack.state_dir == local.state_dir
    assert service.state_dir == stack.state_dir / "vertex" and service.project == stack.project
