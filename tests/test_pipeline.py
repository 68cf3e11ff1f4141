"""The two-process backfill yields what one process would, in order, and fails the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import SourceInvalid
from syncd.config import Config, load_config
from syncd.ingest.batch import IngestContext, Privacy, prepare_batch
from syncd.ingest.classify import ClassifyOptions
from syncd.sync.connect import Connectors
from syncd.sync.pipeline import prepared_batches
from tests.util import deliver, make_maildir, message, write_config

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _setup(tmp_path: Path, n: int = 250) -> Config:
    mail = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(n):
        if i % 2:
            data = message(
                sender="alex@example.com",
                to=f"p{i % 17}@corp.example",
                subject=f"Topic {i}",
                date=base + timedelta(hours=i),
                message_id=f"m{i}@example.com",
            )
            deliver(mail / "Sent", data)
        else:
            data = message(
                sender=f"p{i % 17}@corp.example",
                to="alex@example.com",
                subject=f"Re: Topic {i}",
                date=base + timedelta(hours=i),
                message_id=f"m{i}@corp.example",
                in_reply_to=f"m{i - 1}@example.com",
            )
            deliver(mail, data)
    cfg = write_config(
        tmp_path / "c.toml",
        f'[sync]\nbatch_size = 40\n[[accounts]]\nname = "w"\nkind = "maildir"\npath = "{mail}"\n',
        store_url=f"sqlite:///{tmp_path / 'x.db'}",
    )
    return load_config(cfg)


def _ctx(config: Config) -> IngestContext:
    return IngestContext(
        owner_id=1,
        account_id=1,
        stream_id=1,
        identity=config.owner.identity(),
        options=ClassifyOptions(),
        contact_policy="written",
        privacy=Privacy(),
        now=NOW,
    )


def _key(item: object) -> tuple[object, ...]:
    return (
        item.provider_id,  # type: ignore[attr-defined]
        item.message_key,  # type: ignore[attr-defined]
        item.category,  # type: ignore[attr-defined]
        item.direction,  # type: ignore[attr-defined]
        tuple((p.address, p.role, p.is_counterpart) for p in item.parties),  # type: ignore[attr-defined]
    )


def test_child_process_batches_equal_a_plain_poll(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    ctx = _ctx(config)
    acc = config.settings.accounts[0]
    connectors = Connectors(config)
    source = connectors.mail(acc)
    for stream in source.streams():
        plain = [
            (b.cursor, b.done, [_key(i) for i in prepare_batch(ctx, b.items).items])
            for b in source.poll(stream, None, now=NOW)
        ]
        piped = [
            (meta.cursor, meta.done, [_key(i) for i in prepared.items])
            for meta, prepared in prepared_batches(
                config, acc.name, "mail", stream, None, full=False, now=NOW, ctx=ctx
            )
        ]
        # The last cursor carries the time of the read (a Maildir watermark): equal shape,
        # not equal value; every other batch and cursor is the same.
        assert [b[1:] for b in piped] == [b[1:] for b in plain]
        assert [b[0] for b in piped[:-1]] == [b[0] for b in plain[:-1]]
        assert piped[-1][0] is not None and plain[-1][0] is not None
        assert sum(len(b[2]) for b in piped) > 100
    connectors.close()


def test_a_source_error_arrives_in_the_parent(tmp_path: Path) -> None:
    config = _setup(tmp_path, n=10)
    acc = config.settings.accounts[0]
    connectors = Connectors(config)
    [inbox, _sent] = connectors.mail(acc).streams()
    connectors.close()
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "mail" / sub).rename(tmp_path / f"gone-{sub}")
    with pytest.raises(SourceInvalid):
        list(
            prepared_batches(
                config, acc.name, "mail", inbox, None, full=False, now=NOW, ctx=_ctx(config)
            )
        )


def test_stopping_early_ends_the_child(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    acc = config.settings.accounts[0]
    connectors = Connectors(config)
    stream = connectors.mail(acc).streams()[0]
    connectors.close()
    it = prepared_batches(
        config, acc.name, "mail", stream, None, full=False, now=NOW, ctx=_ctx(config)
    )
    meta, prepared = next(it)
    assert prepared.items and not meta.done
    it.close()  # returns only once the child has ended


def test_sync_through_two_processes_stores_what_one_process_stores(tmp_path: Path) -> None:
    from tests.test_crash import _dump
    from tests.util import run_cli

    config = _setup(tmp_path, n=400)
    mail = config.settings.accounts[0].path  # type: ignore[union-attr]
    dumps = []
    for least in (0, 50):
        db = tmp_path / f"s{least}.db"
        cfg = write_config(
            tmp_path / f"s{least}.toml",
            f"[sync]\nbatch_size = 40\nparallel_backfill_min = {least}\n"
            f'[[accounts]]\nname = "w"\nkind = "maildir"\npath = "{mail}"\n',
            store_url=f"sqlite:///{db}",
        )
        done = run_cli("--config", str(cfg), "-v", "sync", check=True)
        assert ("pipeline.started" in done.stderr) == bool(least), done.stderr
        dumps.append(_dump(db))
    assert dumps[0] == dumps[1]
    assert len(dumps[0]["interactions"]) == 400
