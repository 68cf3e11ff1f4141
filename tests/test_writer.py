"""The external writer: real subprocesses that echo, hang, fail, vanish or flood."""

from __future__ import annotations

import json
import stat
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from syncd.outbox.writer import WriterResult, personalise, writer_environment

CONTEXT: dict[str, object] = {
    "contact": {"name": "Lena Bergmann", "first_name": "Lena"},
    "last_interaction": {"at": datetime(2026, 3, 2, 10, 0, tzinfo=UTC), "subject": "Offer"},
    "date": {"date": date(2026, 4, 12)},
    "tags": frozenset({"b", "a"}),
}


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_the_writer_gets_the_context_as_json_and_its_output_is_the_body() -> None:
    code = (
        "import json, sys\n"
        "c = json.load(sys.stdin)\n"
        "print()\n"
        "print('Dear', c['contact']['first_name'] + ',')\n"
        "print(c['last_interaction']['at'], c['date']['date'], c['tags'], sep='|')\n"
        "print()\n"
    )
    result = personalise(python(code), CONTEXT)
    assert result == WriterResult(
        body="Dear Lena,\n2026-03-02T10:00:00+00:00|2026-04-12|['a', 'b']", error=None
    )


def test_unicode_is_passed_through_and_invalid_bytes_replaced() -> None:
    code = (
        "import json, sys\n"
        "name = json.loads(sys.stdin.buffer.read().decode('utf-8'))['contact']['name']\n"
        "sys.stdout.buffer.write(name.encode('utf-8') + b' \\xff\\xfe!')\n"
    )
    result = personalise(python(code), {"contact": {"name": "Zoë Ångström 日本"}})
    assert result.body == "Zoë Ångström 日本 \ufffd\ufffd!"


@pytest.mark.e2e
def test_a_writer_past_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    result = personalise(python(code), CONTEXT, timeout=2.5)
    assert result == WriterResult(body=None, error="writer timed out after 2.5 s")
    assert time.monotonic() - started < 10
    assert pid_file.exists(), "the writer did not get to start its child"
    assert _ends_soon(int(pid_file.read_text()))


def _ends_soon(pid: int) -> bool:
    """True once `pid` is gone or a zombie (SIGKILL is delivered asynchronously)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in {"Z", "X"}:
            return True
        time.sleep(0.01)
    return False


def test_a_failing_writer_reports_its_exit_status_and_first_stderr_line() -> None:
    code = (
        "import sys\n"
        "sys.stderr.write('\\n\\x1b[31mmodel overloaded\\x1b[0m, try later\\nTraceback...\\n')\n"
        "print('partial text')\n"
        "sys.exit(3)\n"
    )
    result = personalise(python(code), CONTEXT)
    assert result == WriterResult(body=None, error="writer exited 3: model overloaded, try later")
    assert personalise(python("raise SystemExit(2)"), CONTEXT).error == "writer exited 2"


def test_a_writer_killed_by_a_signal_says_so() -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    assert personalise(python(code), CONTEXT).error == "writer killed by signal SIGTERM"


def test_a_missing_or_unrunnable_writer(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-writer")
    assert personalise([missing], CONTEXT) == WriterResult(
        body=None, error=f"writer not found: {missing}"
    )
    script = tmp_path / "writer.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert personalise([str(script)], CONTEXT).error == f"writer not executable: {script}"
    assert personalise([], CONTEXT).error == "writer command is empty"


def test_a_writer_that_prints_nothing() -> None:
    assert personalise(python("print('  \\n\\t')"), CONTEXT).error == "writer printed nothing"


def test_huge_output_is_cut_off_quickly() -> None:
    code = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
    started = time.monotonic()
    result = personalise(python(code), CONTEXT, timeout=20)
    assert result == WriterResult(body=None, error="writer output over 100000 characters")
    assert time.monotonic() - started < 10


def test_output_limit_counts_characters_after_stripping() -> None:
    limit = 1000
    exact = personalise(python(f"print('\\n' + 'é' * {limit})"), CONTEXT, max_output=limit)
    assert exact.body == "é" * limit
    over = personalise(python(f"print('é' * {limit + 1})"), CONTEXT, max_output=limit)
    assert over.error == f"writer output over {limit} characters"


def test_a_writer_that_ignores_a_large_context_still_works() -> None:
    big = {"notes": "x" * 2_000_000}
    assert personalise(python("print('ok')"), big).body == "ok"


def test_secrets_are_not_passed_to_the_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {
        "SYNCD_GMAIL_TOKEN": False,
        "OPENAI_API_KEY": False,
        "my_client_secret": False,
        "DB_PASSWORD": False,
        "SMTP_PASSWD": False,
        "AWS_CREDENTIALS_FILE": False,
        "SYNCD_WRITER_STYLE": False,
        "LANG": True,
        "LC_ALL": True,
        "TZ": True,
    }
    for name in names:
        monkeypatch.setenv(name, "value")
    code = "import json, os; print(json.dumps(sorted(os.environ)))"
    result = personalise(python(code), CONTEXT)
    assert result.body is not None
    seen = set(json.loads(result.body))
    assert {name for name, kept in names.items() if kept} <= seen
    assert not {name for name, kept in names.items() if not kept} & seen
    assert "PATH" in seen


def test_the_writer_sees_no_secret_whatever_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # The probe: an account's password_env named freely, and a DATABASE_URL with a password,
    # both passed the old name-based filter.
    monkeypatch.setenv("FASTMAIL_IMAP", "hunter2-imap")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://syncd:hunter2-db@db/syncd")
    monkeypatch.setenv("SYNCD_WRITER_STYLE", "warm")
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    result = personalise(python(code), CONTEXT, env_names=["SYNCD_WRITER_STYLE"])
    assert result.body is not None
    seen = json.loads(result.body)
    assert "hunter2" not in result.body
    assert "FASTMAIL_IMAP" not in seen and "DATABASE_URL" not in seen
    assert seen["SYNCD_WRITER_STYLE"] == "warm"


def test_writer_environment_is_an_allow_list() -> None:
    env = writer_environment(
        {"HOME": "/home/a", "LC_TIME": "C", "GITHUB_TOKEN": "t", "X": "KEY", "PYTHONPATH": "/p"},
        ["X"],
    )
    assert env == {"HOME": "/home/a", "LC_TIME": "C", "X": "KEY"}


def test_the_writer_runs_in_its_own_session() -> None:
    code = "import os; print(os.getsid(0) == os.getpid())"
    assert personalise(python(code), CONTEXT).body == "True"
