#!/usr/bin/env bash
# Sourced by scripts/demo.sh and scripts/test.sh: makes .venv with syncd installed
# (editable) and the given extras. Re-installs only when pyproject.toml changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SYNCD_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "syncd needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.syncd-installed${EXTRAS:+-$EXTRAS}"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing syncd${EXTRAS:+[$EXTRAS]} into $VENV" >&2
  log="$VENV/install.log"
  # The build backend's warnings are noise here; show the log only when something fails.
  if ! { "$VENV/bin/python" -m pip install --quiet --upgrade pip &&
         "$VENV/bin/python" -m pip install --quiet -e "$ROOT${EXTRAS:+[$EXTRAS]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "installing syncd failed (log: $log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
# An editable install leaves syncd's modules uncompiled, and where PYTHONDONTWRITEBYTECODE is
# set (some containers and CI images set it) Python never caches them: every `syncd` command
# would compile all it imports again, 0.2-0.3 s of each start. Compile them here, as pip does
# for an installed package; up-to-date modules are skipped (about 0.1 s).
"$VENV/bin/python" -m compileall -q "$ROOT/syncd" "$ROOT/connectors" "$ROOT/rules" >/dev/null || true
export PATH="$VENV/bin:$PATH"
