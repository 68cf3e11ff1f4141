#!/usr/bin/env bash
# The whole test suite, as CI runs it. Extra arguments go to pytest (e.g. -k ingest).
#   scripts/test.sh --fast   the fast tier only: pure code and SQLite, no servers, no browser,
#                            no e2e (pytest -m "not integration and not slow and not e2e",
#                            hypothesis profile "fast"); 52-95 s on a quiet 2-core machine (README)
#   scripts/test.sh -m "integration or slow or e2e"   the rest
# PostgreSQL tests use the server on 127.0.0.1 (SYNCD_TEST_PG to point elsewhere); they are
# skipped when it is absent, unless SYNCD_REQUIRE_SERVICES=postgres (CI) makes that a failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh" "dev"
cd "$ROOT"
tier=()
if [ "${1:-}" = "--fast" ]; then
  shift
  tier=(-m "not integration and not slow and not e2e")
  # Every hypothesis property, on 50 examples instead of the dev profile's 100 (CI: 300).
  export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-fast}"
fi
# Compiled modules are cached even where the environment says not to write bytecode: each
# worker and each `python -m syncd` the tests start would otherwise compile syncd and
# rewrite the test modules again (__pycache__ is ignored by git).
unset PYTHONDONTWRITEBYTECODE
# The tests run in parallel, one worker per CPU (SYNCD_TEST_WORKERS=0: in this process);
# each worker starts its own Dovecot and Radicale and uses its own PostgreSQL databases.
# A worker that runs out of tests takes some from the other's queue (worksteal), so one
# long test near the end does not leave the other core idle.
exec python -m pytest -n "${SYNCD_TEST_WORKERS:-auto}" --maxprocesses 4 --dist worksteal \
  "${tier[@]}" "$@"
