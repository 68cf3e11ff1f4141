"""Proof of completeness: compare each stream's recent provider ids with the store, repair.

A cursor says where the last poll stopped, not that everything before it was stored: a
connector bug, a provider that skipped a change, or rows lost from the store would leave a
gap behind a green status. Reconciliation asks the source (`connectors.base.Reconcilable`)
for the provider ids of every item dated in a recent window, compares them with the
sources stored for the account, reads exactly the missing ones and stores them through the
normal ingest, one transaction per batch, never touching the cursor. Each stream ends as
one `StreamCheck`: ``ok``, ``gap`` (found and repaired), ``not_reconcilable`` (the source
cannot list its ids: such a stream is never reported healthy), ``not_synced``,
``cursor_expired`` (the next sync resyncs it) or ``error``; logged as ``reconcile.ok`` or
``reconcile.gap`` (with a few sample ids) or ``reconcile.skipped`` / ``reconcile.failed``.

Items the ingest leaves out on purpose (blocked or forgotten people) have no source, so
they are listed as missing at every reconciliation; they are read again and counted as
`skipped`, not as a gap.

`resync_account` re-baselines: it takes a fresh cursor from the source first (`baseline`,
so nothing arriving during the read is lost), reads the bounded window through the same
path, then stores that cursor. It is the first step when a cursor is lost or suspect;
`syncd sync --full` reads everything again and is the last.

Until the store has columns for it, the last result of each stream is kept in
``<state_dir>/reconcile.json`` (`ReconcileRecords`), which `syncd accounts status` reads to
say whether a stream is healthy (`stream_health`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from connectors.base import (
    ConnectorError,
    CursorExpired,
    NotReconcilable,
    Reconcilable,
    Source,
    StreamInfo,
)
from syncd.config import AnyAccount, parse_duration
from syncd.errors import SyncdError
from syncd.ingest.batch import IngestContext, IngestResult, ingest_batch, load_privacy
from syncd.isotime import iso
from syncd.store.cursors import drop_replaced_sources, stored_sources, stream_cursors, stream_row
from syncd.store.models import Stream
from syncd.sync.connect import Connectors
from syncd.sync.passes import AccountSources, Syncer, sources_for

log = logging.getLogger("syncd.reconcile")

DEFAULT_WINDOW = timedelta(days=14)
DEFAULT_INTERVAL = timedelta(hours=6)
RESYNC_WINDOW = timedelta(days=30)
SAMPLE = 5

CheckStatus = Literal["ok", "gap", "not_reconcilable", "not_synced", "cursor_expired", "error"]
Health = Literal["healthy", "behind", "unverified", "failing"]
_HEALTH_ORDER: tuple[Health, ...] = ("healthy", "unverified", "behind", "failing")


@dataclass
class StreamCheck:
    """What reconciling one stream found and did."""

    account: str
    stream: str
    kind: str
    status: CheckStatus = "ok"
    checked: int = 0  # provider ids in the window
    missing: int = 0  # of those, not in the store
    repaired: int = 0  # missing items now stored
    skipped: int = 0  # missing items read again but left out on purpose, or gone meanwhile
    sample: list[str] = field(default_factory=list)
    error: str | None = None
    rebaselined: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reconcile_account(
    syncer: Syncer,
    account: AccountSources,
    *,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
    records: ReconcileRecords | None = None,
) -> list[StreamCheck]:
    """Reconcile every stream of `account` over ``[now - window, now]``; cursors untouched."""
    checks = _Reconciler(syncer, account, now).run(now - window, rebaseline=False)
    if records is not None:
        records.save(syncer.owner_id, checks, _cursors(syncer, account.name), now)
    return checks


def resync_account(
    syncer: Syncer,
    account: AccountSources,
    *,
    now: datetime,
    since: datetime,
    records: ReconcileRecords | None = None,
) -> list[StreamCheck]:
    """Re-read `account`'s streams from `since` and re-baseline each cursor to now."""
    # A gap found here was found before the cursor moved: recorded against the old cursor,
    # the stream is not "behind" once it has its new one.
    before = _cursors(syncer, account.name)
    checks = _Reconciler(syncer, account, now).run(since, rebaseline=True)
    if records is not None:
        records.save(syncer.owner_id, checks, before, now)
    return checks


def reconcile_if_due(
    syncer: Syncer, connectors: Connectors, account: AnyAccount, *, now: datetime
) -> list[StreamCheck] | None:
    """For `syncd run`, after a pass that synced `account`: reconcile it when its last
    reconciliation is older than `reconcile_interval` (None when it was not due)."""
    daemon = syncer.config.settings.daemon
    records = records_for(syncer.config.state_dir)
    interval = parse_duration(daemon.reconcile_interval)
    if not records.due(syncer.owner_id, account.name, now, interval):
        return None
    try:
        sources = sources_for(connectors, account)
    except (SyncdError, ConnectorError) as exc:
        log.warning("reconcile.failed", extra={"account": account.name, "error": str(exc)})
        return None
    window = parse_duration(daemon.reconcile_window)
    return reconcile_account(syncer, sources, now=now, window=window, records=records)


class _Reconciler:
    def __init__(self, syncer: Syncer, account: AccountSources, now: datetime) -> None:
        self.syncer = syncer
        self.account = account
        self.now = now
        self.account_id = syncer.ensure_account(account.name, account.kind, now)

    def run(self, since: datetime, *, rebaseline: bool) -> list[StreamCheck]:
        checks: list[StreamCheck] = []
        for prefix, source in self.account.sources:
            try:
                streams = source.streams()
            except ConnectorError as exc:
                check = StreamCheck(self.account.name, prefix.rstrip(":"), "?", "error")
                check.error = str(exc)
                checks.append(self._logged(check))
                continue
            for info in streams:
                check = StreamCheck(self.account.name, prefix + info.name, info.kind)
                try:
                    self._stream(source, info, check, since, rebaseline=rebaseline)
                except NotReconcilable as exc:
                    check.status, check.error = "not_reconcilable", str(exc)
                except CursorExpired as exc:
                    check.status, check.error = "cursor_expired", str(exc)
                except ConnectorError as exc:
                    check.status, check.error = "error", str(exc)
                checks.append(self._logged(check))
        return checks

    def _stream(
        self,
        source: Source,
        info: StreamInfo,
        check: StreamCheck,
        since: datetime,
        *,
        rebaseline: bool,
    ) -> None:
        if not isinstance(source, Reconcilable):
            raise NotReconcilable(f"{type(source).__name__} cannot list its recent ids")
        row = self._stream_row(check.stream, info.kind, create=rebaseline)
        if row is None:
            check.status = "not_synced"
            return
        stream_id, cursor = row
        baseline = source.baseline(info, now=self.now) if rebaseline else None
        ids = source.recent_ids(info, since, cursor=None if rebaseline else cursor)
        check.checked = len(ids)
        missing = sorted(ids - self._stored(ids))
        check.missing = len(missing)
        if missing:
            result, read = self._repair(source, info, stream_id, missing)
            check.repaired = result.new_sources
            check.skipped = len(missing) - result.new_sources
            check.sample = read[:SAMPLE]
        check.status = "gap" if check.repaired else "ok"
        if baseline is not None:
            self._rebaseline(stream_id, ids, baseline)
            check.rebaselined = True

    def _stream_row(self, name: str, kind: str, *, create: bool) -> tuple[int, str | None] | None:
        with self.syncer.store.session() as s, s.begin():
            return stream_row(s, self.syncer.owner_id, self.account_id, name, kind, create=create)

    def _stored(self, ids: set[str]) -> set[str]:
        """Which of `ids` the account has a source for (ingest's idempotency key)."""
        with self.syncer.store.session() as s:
            return stored_sources(s, self.account_id, ids)

    def _repair(
        self, source: Reconcilable, info: StreamInfo, stream_id: int, missing: Sequence[str]
    ) -> tuple[IngestResult, list[str]]:
        ctx = self._context(stream_id)
        total = IngestResult()
        read: list[str] = []
        for batch in source.fetch(info, missing):
            with self.syncer.store.session() as s, s.begin():
                total.add(ingest_batch(s, ctx, batch.items))
            read.extend(item.provider_id for item in batch.items)
        return total, sorted(read)

    def _context(self, stream_id: int) -> IngestContext:
        syncer = self.syncer
        privacy = syncer.config.settings.privacy
        with syncer.store.session() as s:
            loaded = load_privacy(s, syncer.owner_id, privacy.block, privacy.skip_internal)
        return IngestContext(
            owner_id=syncer.owner_id,
            account_id=self.account_id,
            stream_id=stream_id,
            identity=syncer.identity,
            options=syncer.options,
            contact_policy=syncer.config.settings.sync.contact_policy,
            privacy=loaded,
            now=self.now,
        )

    def _rebaseline(self, stream_id: int, seen: set[str], cursor: str) -> None:
        """Store the fresh cursor; sources the window saw under new ids replace old ones
        (an IMAP folder with a new UIDVALIDITY), as a full resync does."""
        with self.syncer.store.session() as s, s.begin():
            dropped = drop_replaced_sources(s, stream_id, seen)
            stream = s.get(Stream, stream_id)
            assert stream is not None
            stream.cursor = cursor
            stream.cursor_at = self.now
            stream.last_sync_at = self.now
            stream.last_error = None
        if dropped:
            log.info(
                "reconcile.sources.replaced",
                extra={"account": self.account.name, "stream_id": stream_id, "count": dropped},
            )

    def _logged(self, check: StreamCheck) -> StreamCheck:
        fields: dict[str, Any] = {"account": check.account, "stream": check.stream}
        if check.status == "gap":
            log.warning(
                "reconcile.gap",
                extra={
                    **fields,
                    "count": check.repaired,
                    "checked": check.checked,
                    "skipped": check.skipped,
                    "sample": " ".join(check.sample),
                    "repaired": True,
                },
            )
        elif check.status == "ok":
            log.info(
                "reconcile.ok",
                extra={**fields, "checked": check.checked, "skipped": check.skipped},
            )
        elif check.status in ("not_reconcilable", "not_synced"):
            log.info("reconcile.skipped", extra={**fields, "reason": check.error or check.status})
        else:
            log.warning(
                "reconcile.failed", extra={**fields, "status": check.status, "error": check.error}
            )
        if check.rebaselined:
            log.info("reconcile.rebaselined", extra=fields)
        return check


def _cursors(syncer: Syncer, account: str) -> dict[str, str | None]:
    """The stored cursor of each stream of `account`, by stream name."""
    with syncer.store.session() as s:
        return stream_cursors(s, syncer.owner_id, account)


# --- the last result of each stream, and what it says about health ---------------------------


def cursor_mark(cursor: str | None) -> str | None:
    """A short fingerprint of a cursor: whether it moved, without keeping provider tokens."""
    if cursor is None:
        return None
    return hashlib.sha256(cursor.encode("utf-8")).hexdigest()[:16]


class ReconcileRecords:
    """The last reconciliation of each stream, in a JSON file beside the store.

    ``{owner_id: {account: {stream: {"at", "status", "checked", "missing", "repaired",
    "cursor"}}}}``, where "cursor" is `cursor_mark` of the stream's cursor right after the
    reconciliation. Written whole under an exclusive lock and replaced atomically.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def of_account(self, owner_id: int, account: str) -> dict[str, dict[str, Any]]:
        found = self.load().get(str(owner_id), {}).get(account, {})
        return found if isinstance(found, dict) else {}

    def save(
        self,
        owner_id: int,
        checks: Sequence[StreamCheck],
        cursors: dict[str, str | None],
        now: datetime,
    ) -> None:
        with self._locked():
            data = self.load()
            owner = data.setdefault(str(owner_id), {})
            for check in checks:
                owner.setdefault(check.account, {})[check.stream] = {
                    "at": iso(now),
                    "status": check.status,
                    "checked": check.checked,
                    "missing": check.missing,
                    "repaired": check.repaired,
                    "cursor": cursor_mark(cursors.get(check.stream)),
                }
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)

    def due(self, owner_id: int, account: str, now: datetime, interval: timedelta) -> bool:
        """Whether `account` was never reconciled or not within `interval`."""
        times = [_parse_iso(r.get("at")) for r in self.of_account(owner_id, account).values()]
        known = [t for t in times if t is not None]
        return not known or now - min(known) >= interval


def records_for(state_dir: Path) -> ReconcileRecords:
    return ReconcileRecords(state_dir / "reconcile.json")


def _parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def stream_health(
    *,
    last_error: str | None,
    cursor: str | None,
    record: dict[str, Any] | None,
    now: datetime,
    interval: timedelta,
) -> Health:
    """healthy only with a recent clean reconciliation; behind while a gap was found and the
    cursor has not moved since; unverified when nothing proves the stream complete."""
    if last_error:
        return "failing"
    if not record:
        return "unverified"
    status = record.get("status")
    if status == "gap" and record.get("cursor") == cursor_mark(cursor):
        return "behind"
    at = _parse_iso(record.get("at"))
    if status not in ("ok", "gap") or at is None or now - at > 2 * interval:
        return "unverified"
    return "healthy"


def account_health(state: str, streams: Sequence[Health]) -> Health:
    """The worst of the streams' health; an account that is not ok is failing."""
    if state not in ("ok",):
        return "failing"
    if not streams:
        return "unverified"
    return max(streams, key=_HEALTH_ORDER.index)
