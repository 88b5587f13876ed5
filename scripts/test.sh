#!/usr/bin/env bash
# Set up (once), then lint and run the whole test suite. Tests start and stop the servers they need.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
# Three workers on two cores, each taking whole test modules so module fixtures start once: the tests wait on
# servers part of the time (1.7 cores busy on average with three workers), and three finished sooner than two.
# xdist starts the modules with the most tests first (its default reordering); that order used less CPU in all
# than starting every end-to-end module at once (16.2 vs 17-20 CPU minutes, measured on this suite).
exec .venv/bin/pytest -n 3 --dist loadfile "$@"
