"""The docs, executed: README's "Using it" as a user, docs/operations.md's install as root.

Both blocks are read from the markdown itself, so the docs cannot drift from what works.
Paths are moved under a temporary prefix and the service user gets a unique name (both
undone afterwards); `systemctl` lines are left out where systemd is not PID 1 (the unit is
checked by tests/test_systemd.py). The install needs root: it is skipped otherwise, unless
SYNCD_REQUIRE_SERVICES names root (CI), where it fails instead.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import required

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
MINIMAL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def sh_block(doc: Path, heading: str, containing: str = "") -> list[str]:
    """The command lines of the first ```sh block after `heading` that has `containing`
    (comments dropped)."""
    text = doc.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    blocks = [b.split("```", 1)[0] for b in section.split("```sh\n")[1:]]
    block = next(b for b in blocks if containing in b)
    out = []
    for line in block.splitlines():
        command = line.split(" #", 1)[0].rstrip()
        if command and not command.startswith("#"):
            out.append(command)
    return out


def _systemd_runs() -> bool:
    return Path("/run/systemd/system").is_dir()


def _needs_root() -> None:
    problem = None
    if os.geteuid() != 0:
        problem = "the install test runs as root"
    elif shutil.which("runuser") is None or not Path("/usr/bin/python3").exists():
        problem = "runuser and /usr/bin/python3 are needed"
    if problem:
        if required("root"):
            pytest.fail(f"{problem} (SYNCD_REQUIRE_SERVICES names root)")
        pytest.skip(problem)


@pytest.fixture
def prefix() -> Iterator[Path]:
    """A folder every user can enter (pytest's tmp_path is root's only)."""
    path = Path(tempfile.mkdtemp(prefix="syncd-install-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def service_user() -> Iterator[str]:
    name = f"syncdt{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)
        subprocess.run(["groupdel", name], capture_output=True, check=False)


def _edit_script(prefix: Path, mail: Path, calendar: Path) -> Path:
    """Stands for `$EDITOR`: points the example's account at a mailbox of the service's."""
    script = prefix / "edit.py"
    script.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "t = p.read_text()\n"
        f"t = t.replace('path = \"examples/mail\"', 'path = \"{mail}\"')\n"
        f"t = t.replace('path = \"examples/calendar\"', 'path = \"{calendar}\"')\n"
        "p.write_text(t)\n",
        encoding="utf-8",
    )
    return script


@pytest.mark.slow
def test_operations_install_as_written_reaches_a_synced_store(
    prefix: Path, service_user: str
) -> None:
    _needs_root()
    user = service_user
    sysusers = prefix / "syncd.sysusers"
    text = (ROOT / "systemd" / "syncd.sysusers").read_text(encoding="utf-8")
    sysusers.write_text(
        text.replace("u syncd ", f"u {user} ").replace("/var/lib/syncd", f"{prefix}/var/lib/syncd")
    )
    data = prefix / "data"
    shutil.copytree(ROOT / "examples", data)
    edit = _edit_script(prefix, data / "mail", data / "calendar")
    swaps = [
        ("systemd/syncd.sysusers", str(sysusers)),
        ("/opt/syncd", f"{prefix}/opt/syncd"),
        ("/usr/local/bin/syncd", f"{prefix}/bin/syncd"),
        ("/usr/local/share/doc/syncd", f"{prefix}/doc"),
        ("/usr/lib/sysusers.d/syncd.conf", f"{prefix}/sysusers.conf"),
        ("/etc/syncd", f"{prefix}/etc/syncd"),
        ("/var/lib/syncd", f"{prefix}/var/lib/syncd"),
        ("-o syncd -g syncd", f"-o {user} -g {user}"),
        ("-g syncd ", f"-g {user} "),
        ("runuser -u syncd ", f"runuser -u {user} "),
        ("$EDITOR", f"{sys.executable} {edit}"),
    ]
    (prefix / "bin").mkdir()
    script = []
    for line in sh_block(ROOT / "docs" / "operations.md", "## Install"):
        if not _systemd_runs() and (
            line.startswith("systemctl ") or line.startswith("cp systemd/syncd.service")
        ):
            continue
        for old, new in swaps:
            line = line.replace(old, new)
        script.append(line)
    assert any("runuser" in s and " init" in s for s in script), script
    assert any("run --once" in s for s in script), script
    env = {"PATH": f"{prefix}/bin:{MINIMAL_PATH}", "HOME": "/root", "LANG": "C.UTF-8"}
    for name in ("PIP_FIND_LINKS", "PIP_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_CONFIG_FILE"):
        if name in os.environ:
            env[name] = os.environ[name]
    # The mailbox belongs to the service user (drafts are written there) once it exists:
    # after step 2. Run the steps one by one, so a failing one is named.
    for line in script:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", line],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, (line, proc.stdout[-2000:], proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, (line, proc.stderr)
        if line.startswith("systemd-sysusers"):
            subprocess.run(["chown", "-R", f"{user}:{user}", str(data)], check=True)
    pw = pwd.getpwnam(user)
    store = prefix / "var" / "lib" / "syncd" / "syncd.db"
    assert store.is_file() and store.stat().st_uid == pw.pw_uid
    state = store.parent.stat()
    assert state.st_uid == pw.pw_uid and state.st_mode & 0o777 == 0o700
    listed = subprocess.run(
        [
            "runuser", "-u", user, "--", "env", f"SYNCD_STATE_DIR={store.parent}",
            f"{prefix}/bin/syncd", "--config", f"{prefix}/etc/syncd/config.toml",
            "contacts", "list", "--json",
        ],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert len(json.loads(listed.stdout)) >= 5

    # The service user meets a state folder root made (the old docs' trap), and one that
    # cannot be made: one line each, with the command that fixes it, never a traceback.
    root_owned = prefix / "root-owned"
    root_owned.mkdir(mode=0o755)
    for state, fix in (
        (root_owned, f"chown -R {user} {root_owned}"),
        (prefix / "root-owned" / "sub", f"install -d -m 0700 -o {user} {root_owned}/sub"),
    ):
        proc = subprocess.run(
            [
                "runuser", "-u", user, "--", "env", f"SYNCD_STATE_DIR={state}",
                f"{prefix}/bin/syncd", "--config", f"{prefix}/etc/syncd/config.toml", "init",
            ],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 2 and lines[0].startswith("syncd: error: "), proc.stderr
        assert fix in lines[1], proc.stderr


def test_readme_using_it_as_written_reaches_a_synced_store(tmp_path: Path) -> None:
    """As a user: a fresh clone, `syncd` on the PATH, the README's first steps verbatim.

    The two install lines before them (a venv and a link) are the same `pip install .`
    that the service test runs for real; here the test's own venv stands for it."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, capture_output=True)
    home = tmp_path / "home"
    home.mkdir()
    bindir = Path(sys.executable).parent  # the venv this checkout is installed in
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{bindir}:{MINIMAL_PATH}",
        "SYNCD_NOW": "2026-11-25T12:00:00Z",
    }
    env.pop("SYNCD_STATE_DIR", None)
    env.pop("SYNCD_CONFIG", None)
    install = sh_block(ROOT / "README.md", "## Using it", "pip install .")
    assert "python3 -m venv ~/.local/share/syncd" in install[0]
    steps = sh_block(ROOT / "README.md", "## Using it", "syncd init")
    assert steps[0].startswith("mkdir -p ~/.config/syncd && cp config.example.toml")
    for line in steps[:3]:  # copy, init, run --once; the rest need a contact of your own
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", line],
            cwd=clone, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, (line, proc.stderr[-2000:])
        if " cp " in line:  # "then edit [[accounts]]": the clone's sample mailbox
            cfg = home / ".config" / "syncd" / "config.toml"
            text = cfg.read_text().replace('path = "examples/', f'path = "{clone}/examples/')
            cfg.write_text(text)
    store = home / ".local" / "state" / "syncd" / "syncd.db"
    assert store.is_file()
    contacts = subprocess.run(
        ["bash", "-c", "syncd contacts list --json"],
        cwd=clone, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert len(json.loads(contacts.stdout)) >= 5
