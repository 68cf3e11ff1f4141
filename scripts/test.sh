#!/usr/bin/env bash
# The whole test suite, as CI runs it. Extra arguments go to pytest (e.g. -k ingest).
# PostgreSQL tests use the server on 127.0.0.1 (SYNCD_TEST_PG to point elsewhere); they are
# skipped when it is absent, unless SYNCD_REQUIRE_SERVICES=postgres (CI) makes that a failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh" "dev"
cd "$ROOT"
exec python -m pytest "$@"
