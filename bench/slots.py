#!/usr/bin/env python3
"""How long `rules.slots.find_slot` takes over thirty days with 2,000 busy intervals and a
contact in New York (the case tests/test_slots.py checks for correctness only).

The busy intervals depend only on --seed. Prints the best and the median of --repeat runs;
the target is under 50 ms for the best run on an idle machine (note the load with it).

Examples:
  python bench/slots.py
  python bench/slots.py --intervals 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock

from rules.model import WorkingTime
from rules.slots import find_slot

OWNER = WorkingTime("Europe/Berlin", clock(9), clock(17))
CONTACT = WorkingTime("America/New_York", clock(9), clock(17))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    origin = datetime(2026, 3, 1, tzinfo=UTC)
    busy = []
    for _ in range(args.intervals):
        begin = origin + timedelta(minutes=rng.randrange(0, args.days * 24 * 60, 5))
        busy.append((begin, begin + timedelta(minutes=rng.choice([15, 30, 45, 60, 90]))))
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        find_slot(
            busy,
            not_before=origin,
            horizon_end=origin + timedelta(days=args.days),
            duration=timedelta(hours=1),
            owner=OWNER,
            contact=CONTACT,
        )
        times.append(time.perf_counter() - t0)
    load = os.getloadavg()[0]
    print(
        f"find_slot, {args.intervals} busy intervals over {args.days} days: "
        f"best {min(times) * 1000:.1f} ms, median {statistics.median(times) * 1000:.1f} ms "
        f"({args.repeat} runs, load {load:.2f})"
    )


if __name__ == "__main__":
    main()
