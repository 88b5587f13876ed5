#!/usr/bin/env bash
# Set up (once), then lint and run the whole test suite. Tests start and stop the servers they need.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
# Two workers (the machine has two cores), each taking whole test modules so module fixtures start once.
exec .venv/bin/pytest -n 2 --dist loadfile "$@"
