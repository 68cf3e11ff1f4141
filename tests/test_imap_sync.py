"""`syncd sync` over an IMAP account on a real Dovecot when the server changes under it:
a new UIDVALIDITY, a renamed folder, a connection cut in the middle of a FETCH, a deleted
Drafts folder. Each test drives the CLI in a process of its own and reads the SQLite store
it leaves; `tests.test_imap` covers the same events one level down, on the connector."""

from __future__ import annotations

import imaplib
import json
import random
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.imap import RAW_FETCH_ITEMS
from connectors.maildir_drafts import draft_message_id
from tests.dovecot import (
    HOST,
    CutProxy,
    Dovecot,
    account_toml,
    append_messages,
    claim_user,
    connect,
    set_uidvalidity,
    start_dovecot,
    uidvalidity,
)
from tests.util import message, run_cli, write_config

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ME = "alex@example.com"
PEOPLE = [f"person{i}@corp{i % 5}.example" for i in range(12)]


def inbound(i: int, *, tag: str = "m", when: datetime | None = None) -> bytes:
    who = PEOPLE[i % len(PEOPLE)]
    return message(
        sender=who,
        to=ME,
        subject=f"Topic {tag}{i}",
        date=when or NOW - timedelta(days=60, minutes=7 * i),
        message_id=f"{tag}{i}@{who.split('@')[1]}",
    )


def outbound(i: int, to: str, *, when: datetime, tag: str = "out") -> bytes:
    return message(
        sender=ME, to=to, subject=f"Proposal {i}", date=when, message_id=f"{tag}{i}@example.com"
    )


class Sync:
    """One account's config and store in `tmp`, and the CLI run against them."""

    def __init__(self, tmp: Path, accounts: str, *, batch_size: int = 100, rules: str = "") -> None:
        self.db = tmp / "syncd.db"
        self.env = {"SYNCD_NOW": NOW.isoformat(), "SYNCD_STATE_DIR": str(tmp / "state")}
        self.config = write_config(
            tmp / "syncd.toml",
            f"[sync]\nbatch_size = {batch_size}\n{rules}{accounts}",
            store_url=f"sqlite:///{self.db}",
        )

    def run(self, *args: str) -> tuple[int, Any, str]:
        """(exit status, the JSON document printed, stderr) of ``syncd ARGS --json``."""
        proc = run_cli("--config", str(self.config), *args, "--json", env=self.env)
        doc = json.loads(proc.stdout) if proc.stdout.strip() else None
        return proc.returncode, doc, proc.stderr

    def sync(self) -> tuple[int, dict[str, dict[str, Any]], str]:
        """Exit status, the streams of the sync summary by name, stderr."""
        code, doc, err = self.run("sync")
        assert doc is not None, err
        return code, {s["stream"]: s for s in doc["streams"]}, err

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def sources(self) -> list[tuple[str, str]]:
        """(message key, provider id) of every interaction source."""
        return sorted(
            self.query(
                "select i.message_key, s.provider_id from interaction_sources s"
                " join interactions i on i.id = s.interaction_id"
            )
        )

    def interactions(self) -> int:
        return int(self.query("select count(*) from interactions")[0][0])


def uid_map(server: Dovecot, user: str, folder: str) -> dict[str, int]:
    """Message-ID (as the store normalises it) → UID, as the server has them now."""
    client = connect(server, user)
    try:
        client.select_folder(folder, readonly=True)
        found = client.fetch(client.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    finally:
        client.logout()
    out = {}
    for uid, data in found.items():
        head = data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode()
        out["mid:" + head.split("<", 1)[1].split(">", 1)[0].lower()] = uid
    return out


# ------------------------------------------------------------------------- UIDVALIDITY


def test_a_new_uidvalidity_resyncs_the_folder_without_duplicates(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    user = claim_user(dovecot)
    append_messages(dovecot, user, "INBOX", [inbound(i) for i in range(6)])
    append_messages(dovecot, user, "Projects", [inbound(i, tag="p") for i in range(5)])
    append_messages(dovecot, user, "Sent", [outbound(1, PEOPLE[0], when=NOW - timedelta(days=20))])
    run = Sync(tmp_path, account_toml(dovecot, user, tmp_path, folders=["Projects"]))
    code, streams, err = run.sync()
    assert code == 0, err
    assert run.interactions() == 12
    before = dict(run.sources())
    old_inbox = uidvalidity(dovecot, user, "INBOX")
    old_projects = uidvalidity(dovecot, user, "Projects")

    # INBOX keeps its UIDs under a new UIDVALIDITY (a restore from backup), and gains a
    # message; Projects is rebuilt by another client in another order (new UIDs too).
    set_uidvalidity(dovecot, user, "INBOX", old_inbox + 1000)
    append_messages(dovecot, user, "INBOX", [inbound(99, when=NOW - timedelta(days=1))])
    client = connect(dovecot, user)
    client.delete_folder("Projects")
    client.logout()
    append_messages(dovecot, user, "Projects", [inbound(i, tag="p") for i in reversed(range(5))])
    new_projects = uidvalidity(dovecot, user, "Projects")
    assert new_projects != old_projects

    code, streams, err = run.sync()
    assert code == 0, err
    assert streams["mail:INBOX"]["resynced"] and streams["mail:Projects"]["resynced"]
    assert not streams["mail:Sent"]["resynced"]
    assert streams["mail:INBOX"]["new_interactions"] == 1
    assert streams["mail:Projects"]["new_interactions"] == 0
    assert run.interactions() == 13
    assert run.query("select count(distinct message_key) from interactions")[0][0] == 13

    # Every interaction has exactly one source, and it names the message as it is now.
    after = run.sources()
    assert Counter(k for k, _ in after).most_common(1)[0][1] == 1, "an interaction has two sources"
    expected = {
        k: f"INBOX/{old_inbox + 1000}/{u}" for k, u in uid_map(dovecot, user, "INBOX").items()
    }
    expected |= {
        k: f"Projects/{new_projects}/{u}" for k, u in uid_map(dovecot, user, "Projects").items()
    }
    expected |= {k: p for k, p in before.items() if p.startswith("Sent/")}
    assert dict(after) == expected
    assert sorted(set(before) - set(dict(after))) == []  # nothing stored was lost

    # The run's summary said "resynced" (above); the account's status shows healthy streams:
    # a resync is the remedy, not an error.
    code, accounts, _err = run.run("accounts", "status")
    assert code == 0
    [account] = accounts
    assert account["state"] == "ok"
    assert {s["name"]: s["last_error"] for s in account["streams"]} == {
        "mail:INBOX": None,
        "mail:Projects": None,
        "mail:Sent": None,
    }

    # The next pass is incremental again: nothing read, nothing new.
    code, streams, err = run.sync()
    assert code == 0, err
    assert all(not s["resynced"] and s["read"] == 0 for s in streams.values())
    assert run.sources() == after


# ------------------------------------------------------------------------- folders


def test_a_renamed_folder_fails_its_stream_only_and_loses_nothing(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    user = claim_user(dovecot)
    append_messages(dovecot, user, "INBOX", [inbound(i) for i in range(3)])
    append_messages(dovecot, user, "Clients", [inbound(i, tag="c") for i in range(4)])
    run = Sync(tmp_path, account_toml(dovecot, user, tmp_path, folders=["Clients"]))
    code, _streams, err = run.sync()
    assert code == 0, err
    stored = run.sources()
    assert len(stored) == 7

    client = connect(dovecot, user)
    client.rename_folder("Clients", "Clients 2025")
    client.logout()
    append_messages(dovecot, user, "INBOX", [inbound(50, when=NOW - timedelta(days=1))])

    code, streams, err = run.sync()
    assert code == 1  # a stream failed, and the run says so
    assert "Clients" in err
    failed = streams.get("mail:Clients")
    assert failed is not None, f"no report for the renamed folder's stream: {streams}"
    assert "'Clients'" in failed["error"]
    assert streams["mail:INBOX"]["error"] is None
    assert streams["mail:INBOX"]["new_interactions"] == 1
    # Nothing stored is lost: the folder's interactions stay, with their sources.
    assert set(stored) <= set(run.sources())
    assert run.interactions() == 8
    _code, accounts, _err = run.run("accounts", "status")
    by_name = {s["name"]: s for s in accounts[0]["streams"]}
    assert "'Clients'" in by_name["mail:Clients"]["last_error"]
    assert by_name["mail:INBOX"]["last_error"] is None


@pytest.fixture(scope="module")
def bare_dovecot(dovecot: Dovecot) -> Any:
    """A Dovecot that makes no special-use folder by itself: a deleted Drafts stays gone.
    (It asks for the shared one only to be skipped, or failed, where there is no Dovecot.)"""
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="syncd-dovecot-bare-"))
    try:
        with start_dovecot(base, users={"bare": "pw-bare"}, autocreate=False) as server:
            yield server
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_deleted_drafts_folder_is_made_again_by_the_next_draft(
    bare_dovecot: Dovecot, tmp_path: Path
) -> None:
    server, user = bare_dovecot, "bare"
    rules = '[[rules]]\nname = "no-reply"\nkind = "no_reply"\n'
    append_messages(
        server,
        user,
        "Sent",
        [outbound(1, "Priya <priya@acme.example>", when=NOW - timedelta(days=9))],
    )
    run = Sync(tmp_path, account_toml(server, user, tmp_path), rules=rules)
    code, doc, err = run.run("run", "--once")
    assert code == 0, err
    assert doc["actions"]["created"] == 1

    def drafts() -> list[bytes]:
        client = connect(server, user)
        try:
            names = [name for _flags, _sep, name in client.list_folders()]
            if "Drafts" not in names:
                return []
            client.select_folder("Drafts", readonly=True)
            found = client.fetch(client.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (TO)]"])
            return sorted(d[b"BODY[HEADER.FIELDS (TO)]"].strip() for d in found.values())
        finally:
            client.logout()

    assert len(drafts()) == 1 and b"priya@acme.example" in drafts()[0]
    client = connect(server, user)
    client.delete_folder("Drafts")
    assert "Drafts" not in [name for _f, _s, name in client.list_folders()]
    client.logout()
    append_messages(
        server,
        user,
        "Sent",
        [outbound(2, "Sophie <sophie@studio.example>", when=NOW - timedelta(days=8))],
    )

    code, doc, err = run.run("run", "--once")
    assert code == 0, err
    assert doc["actions"]["created"] == 1
    # The folder is back with the new draft only: the one the user deleted stays deleted.
    [draft] = drafts()
    assert b"sophie@studio.example" in draft
    code, actions, _err = run.run("actions", "list")
    states = {a["contact"]: a["state"] for a in actions}
    assert states == {"priya@acme.example": "dismissed", "sophie@studio.example": "created"}
    sophie = next(a for a in actions if a["contact"] == "sophie@studio.example")
    client = connect(server, user)
    client.select_folder("Drafts", readonly=True)
    assert len(client.search(["HEADER", "Message-ID", draft_message_id(sophie["key"])])) == 1
    client.logout()


# ------------------------------------------------------------------------- network


def fetch_bytes(proxy: CutProxy, server: Dovecot, user: str, folder: str) -> int:
    """How many bytes the server sends for the header FETCH of every message of `folder`."""
    imap = imaplib.IMAP4(HOST, proxy.port, timeout=30)
    try:
        imap.login(user, server.users[user])
        imap.select(folder, readonly=True)
        proxy.reset()
        typ, _data = imap.uid("FETCH", "1:*", RAW_FETCH_ITEMS)
        assert typ == "OK"
        return proxy.downstream
    finally:
        imap.logout()


def expected_sources(server: Dovecot, user: str, *folders: str) -> list[tuple[str, str]]:
    """(message key, provider id) of every message in `folders` as the server has them."""
    found = []
    for folder in folders:
        validity = uidvalidity(server, user, folder)
        found += [(k, f"{folder}/{validity}/{u}") for k, u in uid_map(server, user, folder).items()]
    return sorted(found)


def test_a_connection_cut_mid_fetch_resumes_without_duplicates_or_loss(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    """The header FETCH of the INBOX backfill goes in chunks of 2,000 UIDs, each answered in
    one response; the proxy cuts the connection inside the second one."""
    user = claim_user(dovecot)
    n = 3000
    append_messages(dovecot, user, "INBOX", [inbound(i, tag="big") for i in range(n)])
    append_messages(
        dovecot,
        user,
        "Sent",
        [outbound(i, PEOPLE[i], when=NOW - timedelta(days=i + 1)) for i in range(5)],
    )
    proxy = CutProxy(dovecot.host, dovecot.port)
    try:
        # Past the first 2,000 messages' answer and short of the end of the second one.
        size = fetch_bytes(proxy, dovecot, user, "INBOX")
        seed = random.Random().randrange(1_000_000)
        cut_at = int(size * random.Random(seed).uniform(0.72, 0.95))
        run = Sync(tmp_path, account_toml(dovecot, user, tmp_path, port=proxy.port), batch_size=500)
        proxy.cut_after(cut_at)
        code, streams, err = run.sync()
        assert proxy.cuts == 1, f"seed {seed}: the connection was not cut"
        assert code == 1, f"seed {seed}: {err}"
        assert streams["mail:INBOX"]["error"], streams
        assert streams["mail:Sent"]["error"] is None  # a new connection for the next stream
        stored = run.interactions() - 5
        assert stored == 2000, f"seed {seed}: {stored} INBOX messages stored"

        code, streams, err = run.sync()
        assert code == 0, err
        # Resumed where it stopped: only the rest was read.
        assert streams["mail:INBOX"]["read"] == n - stored
        assert streams["mail:INBOX"]["new_interactions"] == n - stored
        assert run.sources() == expected_sources(dovecot, user, "INBOX", "Sent")
        assert run.interactions() == n + 5

        # Cut again, in the full resync that a new UIDVALIDITY asks for: the next run
        # resyncs again (it does not go on from the middle), and no source keeps an old UID.
        set_uidvalidity(dovecot, user, "INBOX", uidvalidity(dovecot, user, "INBOX") + 1000)
        proxy.cut_after(cut_at)
        code, streams, err = run.sync()
        assert proxy.cuts == 2 and code == 1, f"seed {seed}: {err}"
        assert streams["mail:INBOX"]["resynced"] and streams["mail:INBOX"]["error"]
        code, streams, err = run.sync()
        assert code == 0, err
        assert streams["mail:INBOX"]["resynced"]
        assert streams["mail:INBOX"]["new_interactions"] == 0
        assert run.sources() == expected_sources(dovecot, user, "INBOX", "Sent")
        assert run.interactions() == n + 5
    finally:
        proxy.close()
