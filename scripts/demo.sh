#!/usr/bin/env bash
# Set up (once), then run the demo end to end on the local stack: seed -> request model -> batch job
# answered by the local SmolLM2 model -> flattened results, printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/vertex-batch demo "$@"
