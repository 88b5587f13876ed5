#!/usr/bin/env bash
# Set up (once), then lint and run the whole test suite. Tests start and stop the servers they need.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
# Three workers on two cores, each taking whole test modules so module fixtures start once: the tests wait on
# servers part of the time (1.7 cores busy on average with three workers), and three finished sooner than two.
# --no-loadscope-reorder keeps tests/conftest.py's order (the slow modules first, one per worker): xdist's own
# order (most tests first) leaves the single-test modules, the slowest among them, for the end, one after another.
exec .venv/bin/pytest -n 3 --dist loadfile --no-loadscope-reorder "$@"
