"""Small builders for tests: Maildir messages, config files, running the CLI."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

OWNER_TOML = """
[owner]
name = "Alex Morgan"
addresses = ["alex@example.com"]
aliases = ["alex.morgan@example.com"]
timezone = "Europe/Berlin"
"""

_counter = itertools.count(1)


def make_maildir(root: Path, *folders: str) -> Path:
    for folder in folders:
        base = root if folder == "INBOX" else root / folder
        for sub in ("cur", "new", "tmp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
    return root


def message(
    *,
    sender: str,
    to: str,
    subject: str,
    date: datetime,
    message_id: str | None,
    cc: str | None = None,
    in_reply_to: str | None = None,
    extra: dict[str, str] | None = None,
    body: str = "Hello,\n\nthanks.\n",
) -> bytes:
    lines = [f"From: {sender}", f"To: {to}"]
    if cc:
        lines.append(f"Cc: {cc}")
    lines += [f"Subject: {subject}", f"Date: {format_datetime(date)}"]
    if message_id:
        lines.append(f"Message-ID: <{message_id}>")
    if in_reply_to:
        lines += [f"In-Reply-To: <{in_reply_to}>", f"References: <{in_reply_to}>"]
    for k, v in (extra or {}).items():
        lines.append(f"{k}: {v}")
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body]
    return "\r\n".join(lines).encode("utf-8")


def deliver(folder: Path, data: bytes, *, seen: bool = True, stamp: int | None = None) -> Path:
    """Write a message the way a delivery agent does: tmp/ first, then a rename."""
    n = next(_counter)
    stamp = stamp or 1_790_000_000 + n
    unique = f"{stamp}.M{n}P{os.getpid()}.test"
    tmp = folder / "tmp" / unique
    tmp.write_bytes(data)
    final = folder / ("cur" if seen else "new") / (unique + (":2,S" if seen else ""))
    os.rename(tmp, final)
    return final


def write_config(path: Path, body: str, *, store_url: str | None = None) -> Path:
    store = f'[store]\nurl = "{store_url}"\n' if store_url else ""
    path.write_text(OWNER_TOML + store + body, encoding="utf-8")
    return path


def run_cli(
    *args: str, env: dict[str, str] | None = None, check: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"syncd {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def cli_json(*args: str, env: dict[str, str] | None = None) -> Any:
    proc = run_cli(*args, "--json", env=env, check=True)
    return json.loads(proc.stdout)
