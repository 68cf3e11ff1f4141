#!/usr/bin/env python3
"""The table bench/mutation.sh prints: one row per mutated module, from each run's
`mutmut results --all true` (mutants/<run>/results.txt).

Killed counts what the tests caught (a failing test, a timeout, a crash); the score is
killed over all mutants that were checked. "no tests" (no selected test reaches the
function) counts as surviving. Timeouts are also shown on their own, with the score they
leave when counted as survivors ("strict"): a timeout is an endless loop only if it held
under `--survivors`' longer limit.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

CAUGHT = {"killed", "timeout", "segfault", "caught by type check"}


def module_of(mutant: str) -> str:
    """'rules.plan.x_plan__mutmut_3', 'rules.plan.xǁ_Bookǁallows__mutmut_1' -> 'rules/plan.py'."""
    dotted = mutant.rsplit(".", 1)[0]
    return dotted.replace(".", "/") + ".py"


def main(root: Path) -> int:
    rows = []
    for results in sorted(root.glob("*/results.txt")):
        tests_file = results.parent / "tests.txt"
        tests = tests_file.read_text().split() if tests_file.exists() else []
        by_module: dict[str, Counter[str]] = {}
        for name, status in _parse(results):
            by_module.setdefault(module_of(name), Counter())[status] += 1
        for module, counts in sorted(by_module.items()):
            checked = sum(n for s, n in counts.items() if s != "not checked")
            killed = sum(counts[s] for s in CAUGHT)
            survived = checked - killed
            timeouts = counts["timeout"]
            score = 100.0 * killed / checked if checked else 0.0
            strict = 100.0 * (killed - timeouts) / checked if checked else 0.0
            short = ", ".join(Path(t).stem for t in tests)
            rows.append((module, short, checked, killed, survived, timeouts, score, strict))
    if not rows:
        print("no results under", root, file=sys.stderr)
        return 1
    header = ("module", "tests", "mutants", "killed", "survived", "score")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(2)]
    counts = "mutants | killed | survived | timeouts |  score | strict |"
    print(f"| {header[0]:<{widths[0]}} | {header[1]:<{widths[1]}} | {counts}")
    rule = "--------:|-------:|---------:|---------:|-------:|-------:|"
    print(f"|{'-' * (widths[0] + 2)}|{'-' * (widths[1] + 2)}|{rule}")
    for module, tests, checked, killed, survived, timeouts, score, strict in rows:
        print(
            f"| {module:<{widths[0]}} | {tests:<{widths[1]}} | {checked:>7} | {killed:>6} |"
            f" {survived:>8} | {timeouts:>8} | {score:4.1f} % | {strict:4.1f} % |"
        )
    return 0


def merge(results: Path, rerun: Path) -> None:
    """Write into `results` the statuses `rerun` has for the mutants it checked again."""
    statuses = dict(_parse(results))
    statuses.update((n, s) for n, s in _parse(rerun) if s != "not checked" and n in statuses)
    results.write_text("".join(f"    {n}: {s}\n" for n, s in statuses.items()))


def _parse(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text().splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep:
            out.append((name, status))
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--merge":
        merge(Path(sys.argv[2]), Path(sys.argv[3]))
        sys.exit(0)
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("mutants")))
