#!/usr/bin/env bash
# The main job on the bundled example data, in a throw-away directory: config.example.toml
# and examples/ are copied there (drafts are written into the copy's Maildir Drafts folder,
# holds into <state>/holds/). `syncd run --once` syncs, plans and creates the due drafts and
# holds and prints what it found; the sample address book is read, the rules run again
# (`syncd apply`), and the demo says what it did and which commands to try next.
# Run it again with the same SYNCD_DEMO_DIR and nothing new is created.
# Extra arguments go to `syncd run --once` (for example --json: then stdout holds that one
# JSON document, and everything else goes to stderr).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh" ""
DEMO="${SYNCD_DEMO_DIR:-$(mktemp -d -t syncd-demo.XXXXXX)}"
mkdir -p "$DEMO"
if [ ! -f "$DEMO/config.example.toml" ]; then
  cp -R "$ROOT/examples" "$DEMO/examples"
  cp "$ROOT/config.example.toml" "$DEMO/config.example.toml"
fi
export SYNCD_STATE_DIR="$DEMO/state"
# The example history is written as of this day; pin the clock so it always reads the same.
export SYNCD_NOW="${SYNCD_NOW:-2026-11-25T12:00:00Z}"
cd "$DEMO"
CFG=config.example.toml
step() { printf '\n== %s ==\n' "$*" >&2; }
step "1/3 syncd run --once: read the sample mailbox and calendar, run the rules"
syncd --config "$CFG" run --once "$@"
step "2/3 syncd import vcard: names, birthdays and time zones from the address book"
syncd --config "$CFG" import vcard examples/contacts.vcf >&2
step "3/3 syncd apply: the rules again, now that birthdays and time zones are known"
syncd --config "$CFG" apply >&2
counts="$(syncd --config "$CFG" actions list --json | python3 -c '
import json, sys
rows = [a for a in json.load(sys.stdin) if a["state"] == "created"]
print(sum(a["kind"] == "draft" for a in rows), sum(a["kind"] == "hold" for a in rows))')"
read -r drafts holds <<<"$counts"
cat >&2 <<EOT

What the demo did, in $DEMO:
  - read examples/mail and examples/calendar into the store $SYNCD_STATE_DIR/syncd.db
  - merged the address book examples/contacts.vcf into the contacts
  - $drafts draft(s) in examples/mail/Drafts and $holds hold(s) in state/holds/, none sent
Try next (the clock is pinned to the sample data's day):
  cd $DEMO && export SYNCD_STATE_DIR=$SYNCD_STATE_DIR SYNCD_NOW=$SYNCD_NOW
  syncd --config $CFG contacts list --sort strength   # who you are in touch with
  syncd --config $CFG history "Priya Raman"           # everything with one person
  syncd --config $CFG report --html report.html       # the network's measures, as a page
EOT
