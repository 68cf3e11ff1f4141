"""The systemd unit: `systemd-analyze verify` accepts it, and it asks for what the daemon does
(Type=notify with a watchdog) and for the hardening docs/operations.md promises."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import required

UNITS = Path(__file__).resolve().parent.parent / "systemd"
UNIT = UNITS / "syncd.service"
TEAM_UNIT = UNITS / "syncd@.service"  # one instance per owner of a team


def _settings(unit: Path = UNIT) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key, []).append(value)
    return found


@pytest.mark.parametrize("unit", [UNIT, TEAM_UNIT], ids=lambda u: u.name)
def test_systemd_analyze_verify_accepts_the_unit(unit: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if required("systemd"):
            pytest.fail("systemd-analyze is required here but not installed")
        pytest.skip("systemd-analyze is not installed")
    done = subprocess.run(
        [tool, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    # verify reports problems on stderr even when it exits 0 (unknown keys, bad values).
    assert f"{unit.name}:" not in done.stderr, done.stderr


def test_the_unit_is_a_hardened_notify_service() -> None:
    s = _settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["WatchdogSec"] and s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["User"] == ["syncd"] and s["StateDirectory"] == ["syncd"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    }.items():
        assert s[key] == [value], key
    assert "@system-service" in s["SystemCallFilter"]


def test_the_team_unit_differs_only_in_owner_and_description() -> None:
    plain, team = _settings(UNIT), _settings(TEAM_UNIT)
    assert team["ExecStart"] == [plain["ExecStart"][0].replace(" run", " --owner %i run")]
    differ = {k for k in plain.keys() | team.keys() if plain.get(k) != team.get(k)}
    assert differ == {"ExecStart", "Description"}


def test_the_unit_limits_memory_tasks_and_files_as_documented() -> None:
    # Issue 13: without limits, one hostile input could take the host's memory.
    s = _settings()
    limits = {"MemoryMax": "1G", "TasksMax": "256", "LimitNOFILE": "4096"}
    for key, value in limits.items():
        assert s.get(key) == [value], key
    operations = (UNITS.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    for key, value in limits.items():
        assert f"{key}={value}" in operations, f"docs/operations.md does not explain {key}"


@pytest.mark.parametrize("unit", [UNIT, TEAM_UNIT], ids=lambda u: u.name)
def test_systemd_analyze_security_rates_the_unit_ok_or_better(unit: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if required("systemd"):
            pytest.fail("systemd-analyze is required here but not installed")
        pytest.skip("systemd-analyze is not installed")
    done = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    overall = [line for line in done.stdout.splitlines() if "Overall exposure level" in line]
    assert overall, done.stdout + done.stderr
    level = overall[0].split(":", 1)[1].split()
    assert float(level[0]) < 2.0 and level[1] in ("SAFE", "OK"), overall[0]
