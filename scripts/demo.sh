#!/usr/bin/env bash
# The main job on the bundled example data, in a throw-away directory: config.example.toml
# and examples/ are copied there (drafts are written into the copy's Maildir Drafts folder,
# holds into <state>/holds/), the sample address book is read, and `syncd run --once`
# syncs, plans and creates the due drafts and holds, then prints what it found and did.
# Run it again with the same SYNCD_DEMO_DIR and nothing new is created.
# Extra arguments go to `syncd run --once` (for example --json).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh" ""
DEMO="${SYNCD_DEMO_DIR:-$(mktemp -d -t syncd-demo.XXXXXX)}"
if [ ! -f "$DEMO/config.example.toml" ]; then
  cp -R "$ROOT/examples" "$DEMO/examples"
  cp "$ROOT/config.example.toml" "$DEMO/config.example.toml"
fi
export SYNCD_STATE_DIR="$DEMO/state"
# The example history is written as of this day; pin the clock so it always reads the same.
export SYNCD_NOW="${SYNCD_NOW:-2026-11-25T12:00:00Z}"
echo "demo directory: $DEMO (drafts: $DEMO/examples/mail/Drafts, holds: $SYNCD_STATE_DIR/holds)" >&2
cd "$DEMO"
# The address book's cards are merged into contacts, so those must exist first.
syncd --config config.example.toml sync --json >/dev/null
syncd --config config.example.toml import vcard examples/contacts.vcf >&2
exec syncd --config config.example.toml run --once "$@"
