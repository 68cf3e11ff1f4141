#!/usr/bin/env bash
# The main job on the bundled example data: sync examples/ with config.example.toml into a
# throw-away state directory, and print the interactions and contacts found.
# Extra arguments go to `syncd run --once` (for example --json).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh" ""
export SYNCD_STATE_DIR="${SYNCD_STATE_DIR:-$(mktemp -d -t syncd-demo.XXXXXX)}"
# The example history is written as of this day; pin the clock so it always reads the same.
export SYNCD_NOW="${SYNCD_NOW:-2026-11-25T12:00:00Z}"
echo "state directory: $SYNCD_STATE_DIR" >&2
exec syncd --config "$ROOT/config.example.toml" run --once "$@"
