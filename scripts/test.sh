#!/usr/bin/env bash
# Set up (once), then lint and run the whole test suite. Tests start and stop the servers they need.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
exec .venv/bin/pytest "$@"
