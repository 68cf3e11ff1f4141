#!/usr/bin/env python3
"""How long the `syncd` command takes to start, beside the interpreter's own start.

Runs each command --runs times (after --warmup runs) and prints the mean, the fastest and the
slowest wall time, next to `python -c pass` (the floor no command can go under) and
`python -c "import click"`:

  syncd --help
  syncd contacts list --json     on the example store, in the state scripts/demo.sh leaves
                                 (made here in a throw-away folder with SYNCD_DEMO_DIR)

  python bench/cli_startup.py
  python bench/cli_startup.py --runs 20 --demo-dir /tmp/syncd-demo
  python bench/cli_startup.py --pythonpath /tmp/old-checkout     # the same, another version

Wall time on a busy machine says little; the CPU columns (user + system) say more.

tests/test_cli_imports.py holds the import budget without timing anything.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(
    cmd: list[str], env: dict[str, str], cwd: Path, runs: int, warmup: int
) -> tuple[list[float], list[float]]:
    """Wall times, and CPU times (user + system: what a busy machine inflates least)."""
    for _ in range(warmup):
        subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, check=True)
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, check=True)
        wall.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def demo_store(demo: Path, env: dict[str, str]) -> None:
    """The example store as scripts/demo.sh leaves it (run once; kept if already there)."""
    if (demo / "state").exists():
        return
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh"), "--json"],
        env={**env, "SYNCD_DEMO_DIR": str(demo)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--demo-dir", type=Path, help="reuse (or make) the demo's folder here")
    ap.add_argument("--pythonpath", type=Path, help="time this checkout's syncd instead")
    args = ap.parse_args()
    demo = args.demo_dir or Path(tempfile.mkdtemp(prefix="syncd-startup."))
    demo.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    demo_store(demo, env)
    env = {
        **env,
        "SYNCD_STATE_DIR": str(demo / "state"),
        "SYNCD_NOW": "2026-11-25T12:00:00Z",
    }
    # --pythonpath runs another checkout's code (python -m syncd), e.g. the code before a change
    syncd_cmd = [str(BIN / "syncd")]
    if args.pythonpath:
        env["PYTHONPATH"] = str(args.pythonpath)
        syncd_cmd = [sys.executable, "-m", "syncd"]
    cases = [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
        ("python -c 'import click'", [sys.executable, "-c", "import click"]),
        ("syncd --help", [*syncd_cmd, "--help"]),
        (
            "syncd contacts list --json",
            [*syncd_cmd, "--config", "config.example.toml", "contacts", "list", "--json"],
        ),
    ]
    load = os.getloadavg()
    print(
        f"{args.runs} runs after {args.warmup} warm-up; load average"
        f" {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
    )
    print(f"{'command':<30} {'mean':>8} {'min':>8} {'max':>8} {'cpu mean':>9} {'cpu min':>8}")
    for label, cmd in cases:
        wall, cpu = timed(cmd, env, demo, args.runs, args.warmup)
        print(
            f"{label:<30} {statistics.mean(wall):8.3f} {min(wall):8.3f} {max(wall):8.3f}"
            f" {statistics.mean(cpu):9.3f} {min(cpu):8.3f}"
        )


if __name__ == "__main__":
    main()
