#!/usr/bin/env bash
# Set up (once), then lint and run the whole test suite. Tests start and stop the servers they need.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
# Three workers on two cores, each taking whole test modules so module fixtures start once: the tests wait on
# servers part of the time (1.7 cores busy on average with three workers), and three finished sooner than two.
# --no-loadscope-reorder keeps tests/conftest.py's order (longest modules first); xdist would otherwise start the
# modules with the most tests first, leaving a long one for the end.
exec .venv/bin/pytest -n 3 --dist loadfile --no-loadscope-reorder "$@"
