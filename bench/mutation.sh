#!/usr/bin/env bash
# Mutation score of the pure cores, each module against its own test files only.
#
#   bench/mutation.sh                 # every module in the table below
#   bench/mutation.sh slots addresses # some of them (names from the first column of MODULES)
#   bench/mutation.sh --survivors slots  # after adding tests: re-run only the last run's
#                                        # survivors (and timeouts) against the current
#                                        # tests, keep the rest
#
# Run it before changing a core; it is not part of CI (it takes minutes per module and
# keeps both CPUs busy). mutmut 3 reads its settings from pyproject.toml in the directory
# it runs in and copies that tree into mutants/, so each module gets a scratch copy of the
# worktree, mutants/<name>/, whose pyproject.toml names that module (only_mutate) and its
# tests (pytest_add_cli_args_test_selection); mutmut then makes mutants/<name>/mutants/.
# The results stay there: `cd mutants/<name> && mutmut results` lists the survivors and
# `mutmut show <mutant>` shows one. Hypothesis runs with the "derandomized" profile
# (tests/conftest.py: fixed examples, no shrinking, no database), so two runs of the same
# code give the same table.
#
# Affordable runs: each mutant runs its tests fastest first and stops at the first failure,
# so a killed mutant costs little; a survivor runs every test that reaches it. The
# scratch copy therefore loads the hypothesis profile "mutation": the "derandomized" one
# with MUTATION_EXAMPLES examples per property (default 20; tests that set their own
# max_examples keep it), still fixed, so two runs agree. A mutant gets at most
# MUTATION_TIMEOUT (default 3) times the time its tests took on the clean code (plus a
# second) of wall time, twice that of CPU: an endless loop dies as a timeout, which counts
# as caught. On a loaded machine the wall limit also fires on a slow but finite mutant,
# so `--survivors` checks the timeouts again too, with MUTATION_RERUN_TIMEOUT (default
# 10): a timeout in the final table held under the longer limit. The table shows the
# timeouts apart and a "strict" score that counts them as survivors.
#
# Environment: MUTATION_CHILDREN (default 2) workers per run; MUTATION_EXAMPLES;
# MUTATION_TIMEOUT; MUTATION_RERUN_TIMEOUT.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${SYNCD_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "no virtualenv at $VENV: run 'source scripts/bootstrap.sh dev' first" >&2
  exit 1
fi
if ! "$VENV/bin/python" -c 'import mutmut, sys; sys.exit(not mutmut.__version__.startswith("3."))' 2>/dev/null; then
  echo "installing mutmut 3 into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet 'mutmut>=3.8,<4'
fi
export PATH="$VENV/bin:$PATH"
export HYPOTHESIS_PROFILE=derandomized # the scratch conftest then loads "mutation"
EXAMPLES="${MUTATION_EXAMPLES:-20}"

# name | modules to mutate (space separated) | test files (globs, space separated)
MODULES=(
  "plan|rules/plan.py|tests/test_plan*.py tests/test_timeutil*.py"
  "timeutil|rules/timeutil.py|tests/test_plan*.py tests/test_timeutil*.py"
  "triggers|rules/triggers.py|tests/test_plan*.py tests/test_timeutil*.py"
  "slots|rules/slots.py|tests/test_slots*.py"
  "addresses|syncd/ingest/addresses.py|tests/test_addresses*.py"
  "classify|syncd/ingest/classify.py|tests/test_classify*.py"
  "classify_rules|syncd/ingest/classify_rules.py|tests/test_classify*.py"
  "classify_data|syncd/ingest/classify_data.py|tests/test_classify*.py"
  "classify_families|syncd/ingest/classify_families.py|tests/test_classify*.py"
)

toml_list() { # words -> a TOML array of strings
  local out="" w
  for w in "$@"; do out+="${out:+, }\"$w\""; done
  printf '[%s]' "$out"
}

add_profile() { # the scratch copy's conftest also knows the "mutation" profile
  cat >>"$1/tests/conftest.py" <<EOF

# added by bench/mutation.sh in this scratch copy only
settings.register_profile(
    "mutation", settings.get_profile("derandomized"), max_examples=$EXAMPLES
)
settings.load_profile("mutation")
EOF
}

run_one() {
  local name="$1" modules="$2" globs="$3" work="$ROOT/mutants/$name"
  # shellcheck disable=SC2086 # the globs are meant to expand
  local tests=($(cd "$ROOT" && ls $globs 2>/dev/null))
  if [ ${#tests[@]} -eq 0 ]; then
    echo "$name: no test files match $globs" >&2
    return 1
  fi
  rm -rf "$work"
  mkdir -p "$work"
  # The tracked tree as it is now (uncommitted edits included), without other runs.
  git ls-files -z --cached --others --exclude-standard -- rules syncd connectors tests pyproject.toml |
    xargs -0 cp --parents -t "$work"
  # shellcheck disable=SC2086
  {
    sed '/^\[tool\.mutmut\]/,/^\[/{/^\[tool\.mutmut\]/d;/^\[/!d}' "$ROOT/pyproject.toml"
    echo
    echo "[tool.mutmut]"
    echo "source_paths = [\"rules\", \"syncd\", \"connectors\"]"
    echo "only_mutate = $(toml_list $modules)"
    echo "pytest_add_cli_args_test_selection = $(toml_list "${tests[@]}")"
    echo "pytest_add_cli_args = [\"-p\", \"no:xdist\", \"-p\", \"no:cacheprovider\", \"-q\"]"
    echo "use_git_change_detection = false"
    echo "timeout_multiplier = ${MUTATION_TIMEOUT:-3}"
  } >"$work/pyproject.toml.new"
  mv "$work/pyproject.toml.new" "$work/pyproject.toml"
  add_profile "$work"
  echo "== $name: $modules against ${tests[*]}" >&2
  (cd "$work" && mutmut run --max-children "${MUTATION_CHILDREN:-2}" >"$work/run.log" 2>&1) || {
    tail -30 "$work/run.log" >&2
    echo "$name: mutmut failed (log: $work/run.log)" >&2
    return 1
  }
  (cd "$work" && mutmut results --all true >"$work/results.txt")
  echo "${tests[*]}" >"$work/tests.txt"
}

# Re-run only the survivors of the last run, against the tests as they are now (the test
# files the module's globs match now, new ones included). Valid when the module is
# unchanged and tests were only added (a killed mutant stays killed); after a change to the
# module, run it in full.
rerun_survivors() {
  local name="$1" work="$ROOT/mutants/$name"
  if [ ! -f "$work/results.txt" ]; then
    echo "$name: no previous run in $work" >&2
    return 1
  fi
  local entry globs=""
  for entry in "${MODULES[@]}"; do
    [[ "$entry" == "$name|"* ]] && globs="${entry##*|}"
  done
  # shellcheck disable=SC2086 # the globs are meant to expand
  local tests=($(cd "$ROOT" && ls $globs 2>/dev/null))
  # the test files and the modules they share (tests/plan_world.py, conftest.py)
  (cd "$ROOT" && printf '%s\n' "${tests[@]}" tests/*.py | sort -u | xargs cp --parents -t "$work")
  add_profile "$work"
  local selection
  selection="$(toml_list "${tests[@]}")"
  sed -i "s|^pytest_add_cli_args_test_selection = .*|pytest_add_cli_args_test_selection = $selection|" \
    "$work/pyproject.toml"
  echo "${tests[*]}" >"$work/tests.txt"
  # shellcheck disable=SC2207
  local survivors=($(awk -F': ' '$2 == "survived" || $2 == "no tests" || $2 == "timeout" {gsub(/ /, "", $1); print $1}' "$work/results.txt"))
  sed -i "s/^timeout_multiplier = .*/timeout_multiplier = ${MUTATION_RERUN_TIMEOUT:-10}/" "$work/pyproject.toml"
  echo "== $name: ${#survivors[@]} survivors and timeouts again" >&2
  if [ ${#survivors[@]} -gt 0 ]; then
    (cd "$work" && mutmut run --max-children "${MUTATION_CHILDREN:-2}" "${survivors[@]}" >"$work/rerun.log" 2>&1) || {
      tail -30 "$work/rerun.log" >&2
      return 1
    }
    (cd "$work" && mutmut results --all true >"$work/rerun.txt")
    python "$ROOT/bench/mutation_table.py" --merge "$work/results.txt" "$work/rerun.txt"
  fi
}

if [ "${1:-}" = "--survivors" ]; then
  shift
  for name in "$@"; do rerun_survivors "$name"; done
  python "$ROOT/bench/mutation_table.py" "$ROOT/mutants"
  exit 0
fi

selected=("$@")
for entry in "${MODULES[@]}"; do
  IFS='|' read -r name modules globs <<<"$entry"
  if [ ${#selected[@]} -eq 0 ] || [[ " ${selected[*]} " == *" $name "* ]]; then
    run_one "$name" "$modules" "$globs"
  fi
done

python "$ROOT/bench/mutation_table.py" "$ROOT/mutants"
