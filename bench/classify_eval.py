#!/usr/bin/env python3
"""Score the header classifier against the labelled evaluation set in bench/classify_set/.

Each message goes the way `syncd explain` takes it (header bytes through the connectors'
parser, body part types from the body's first bytes), plus the folder and labels a provider
would give, and is classified with the default options (max_group_size 10). Prints
precision, recall and F1 per kind, the interaction F1, kind accuracy, the confusion matrix
(rows: label, columns: classifier), counterpart accuracy (exact set) and the time per
classify() call. With --misses, lists every wrong answer with the note and the reasons.

Examples:
  python bench/classify_eval.py
  python bench/classify_eval.py --misses
  python bench/classify_eval.py --write /tmp/evalset     # .eml files + labels.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from classify_set import Sample, samples

from connectors.base import RawMessage
from connectors.mailparse import body_part_types, parse_header_block, split_header_block
from syncd.ingest.addresses import OwnerIdentity, normalize_address
from syncd.ingest.classify import KINDS, Classification, ClassifyOptions, classify


def owner() -> OwnerIdentity:
    from classify_set.common import OWNER, OWNER_ALIAS, OWNER_NAME

    return OwnerIdentity.from_config(OWNER_NAME, [OWNER], [OWNER_ALIAS])


def raw(sample: Sample) -> RawMessage:
    head, body = split_header_block(sample.eml())
    return RawMessage(
        provider_id=sample.name,
        folder="INBOX",
        headers=parse_header_block(head),
        labels=sample.labels,
        folder_role=sample.folder_role,  # type: ignore[arg-type]
        body_hints=body_part_types(body[: 32 * 1024]),
    )


def expected_counterparts(sample: Sample) -> tuple[str, ...]:
    return tuple(sorted(a for a in map(normalize_address, sample.counterparts) if a))


def f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--misses", action="store_true", help="list every wrong answer")
    ap.add_argument("--write", type=Path, help="write the set as .eml files and labels.jsonl")
    ap.add_argument("--repeat", type=int, default=20, help="timing passes over the set")
    args = ap.parse_args()
    items = samples()
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        with open(args.write / "labels.jsonl", "w") as fh:
            for s in items:
                (args.write / f"{s.name}.eml").write_bytes(s.eml())
                fh.write(
                    json.dumps(
                        {
                            "file": f"{s.name}.eml",
                            "kind": s.kind,
                            "is_interaction": s.interaction,
                            "counterparts": list(expected_counterparts(s)),
                            "folder_role": s.folder_role,
                            "labels": sorted(s.labels),
                            "note": s.note,
                        }
                    )
                    + "\n"
                )
        print(f"wrote {len(items)} messages to {args.write}")
        return 0
    me = owner()
    options = ClassifyOptions()
    msgs = [raw(s) for s in items]
    results: list[Classification] = [classify(m, me, options) for m in msgs]

    confusion = {k: dict.fromkeys(KINDS, 0) for k in KINDS}
    tp = fp = fn = 0
    cp_ok = 0
    misses: list[str] = []
    for s, c in zip(items, results, strict=True):
        confusion[s.kind][c.kind] += 1  # type: ignore[index]
        tp += s.interaction and c.is_interaction
        fp += (not s.interaction) and c.is_interaction
        fn += s.interaction and not c.is_interaction
        got_cp = tuple(sorted(c.counterparts))
        cp_ok += got_cp == expected_counterparts(s)
        if (c.kind, c.is_interaction, got_cp) != (s.kind, s.interaction, expected_counterparts(s)):
            misses.append(
                f"{s.name}: want {s.kind}/{s.interaction}/{list(expected_counterparts(s))}"
                f" got {c.kind}/{c.is_interaction}/{list(got_cp)}\n    note: {s.note}"
                f"\n    reasons: {'; '.join(c.reasons)}"
            )
    n = len(items)
    print(f"evaluation set: {n} messages, {sum(s.interaction for s in items)} interactions")
    print()
    print(f"{'kind':<13}{'n':>5}{'precision':>11}{'recall':>8}{'F1':>7}")
    for k in KINDS:
        k_tp = confusion[k][k]
        k_fp = sum(confusion[o][k] for o in KINDS if o != k)
        k_fn = sum(confusion[k][o] for o in KINDS if o != k)
        p, r, f = f1(k_tp, k_fp, k_fn)
        print(f"{k:<13}{sum(confusion[k].values()):>5}{p:>11.3f}{r:>8.3f}{f:>7.3f}")
    p, r, f = f1(tp, fp, fn)
    print()
    print(
        f"interaction   precision {p:.3f}  recall {r:.3f}  F1 {f:.3f}  (tp {tp}, fp {fp}, fn {fn})"
    )
    accuracy = sum(confusion[k][k] for k in KINDS) / n
    print(f"kind accuracy {accuracy:.3f}")
    print(f"counterparts exact {cp_ok / n:.3f}  ({cp_ok}/{n})")
    print()
    short = {k: k[:6] for k in KINDS}
    print("confusion (rows: label, columns: classifier)")
    print(f"{'':<13}" + "".join(f"{short[k]:>7}" for k in KINDS))
    for k in KINDS:
        print(f"{k:<13}" + "".join(f"{confusion[k][o]:>7}" for o in KINDS))
    # CPU time of this process, not wall time: the figure must not depend on what else
    # the machine runs. Best of several passes.
    best = float("inf")
    for _ in range(args.repeat):
        start = time.process_time()
        for m in msgs:
            classify(m, me, options)
        best = min(best, time.process_time() - start)
    print()
    print(f"classify(): {best / n * 1e6:.1f} µs CPU per message (best of {args.repeat} passes)")
    if args.misses:
        print()
        print(f"{len(misses)} messages with a wrong kind, interaction or counterparts:")
        for line in misses:
            print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
