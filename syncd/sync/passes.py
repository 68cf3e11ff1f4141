"""One sync pass: every stream of an account, batch by batch, each batch with its cursor.

The session is never held across connector I/O: a batch is read from the source first,
then stored together with the cursor that is valid after it, in one short transaction.
A cursor the provider refuses (`CursorExpired`) triggers a full resync of that stream,
which creates no duplicates because ingest is an idempotent upsert. The provider ids may
have changed with the cursor (an IMAP folder's new UIDVALIDITY renames every message), so
when the resync is complete, a source of the stream it did not see again is dropped if its
interaction was seen under another id; sources of messages that are gone are kept (they
are history). Until then the expired cursor stays stored, so a resync cut short by a crash
is run again whole rather than continued as an incremental sync that would keep the old
ids.

A pass can be asked to stop (`Syncer.should_stop`, which `syncd run` ties to SIGTERM): it
is asked after every stored batch and before every stream, so a long backfill ends within a
batch; what was committed stays, and the next pass goes on from the stored cursor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from connectors.base import (
    AuthFailed,
    Batch,
    ConnectorError,
    CursorExpired,
    SizeHinted,
    Source,
    SourceInvalid,
    SourceUnavailable,
    StreamInfo,
    retry_after_of,
)
from syncd.config import AnyAccount, Config
from syncd.errors import SyncdError
from syncd.gcpause import frozen_heap
from syncd.ingest.batch import (
    IngestContext,
    IngestResult,
    Prepared,
    Privacy,
    load_privacy,
    prepare_batch,
    store_prepared,
)
from syncd.store.cursors import drop_replaced_sources, ensure_account, stream_row, streams_of
from syncd.store.db import Store, lock_owner_writes
from syncd.store.models import Account, Stream
from syncd.sync.connect import Connectors
from syncd.sync.leases import LeaseLost
from syncd.sync.pipeline import BatchMeta, prepare_each, prepared_batches
from syncd.sync.prefetch import Gate, prefetch

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger("syncd.sync")
T = TypeVar("T")


class Progress(Protocol):
    """What a sync reports while it runs (a rich progress bar, or nothing)."""

    def start_stream(self, label: str, total: int | None) -> None: ...

    def advance(self, n: int) -> None: ...

    def end_stream(self) -> None: ...


class NoProgress:
    def start_stream(self, label: str, total: int | None) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def end_stream(self) -> None:
        pass


@dataclass
class StreamReport:
    account: str
    stream: str
    kind: str
    result: IngestResult = field(default_factory=IngestResult)
    read: int = 0
    resynced: bool = False
    error: str | None = None
    # auth | unavailable | invalid | connector | setup (a missing secret, a bad path)
    error_kind: str | None = None
    items: int = 0  # items stored (read counts what the source had to open)
    retry_after: float | None = None  # seconds the provider asked to wait (Retry-After)
    stopped: bool = False  # cut short by `Syncer.should_stop`; the next pass goes on


@dataclass
class SyncReport:
    streams: list[StreamReport] = field(default_factory=list)

    @property
    def errors(self) -> list[StreamReport]:
        return [s for s in self.streams if s.error]

    def total(self) -> IngestResult:
        out = IngestResult()
        for s in self.streams:
            out.add(s.result)
        return out


@dataclass(frozen=True)
class AccountSources:
    name: str
    kind: str
    sources: list[tuple[str, Source]]  # (stream prefix, source)


def sources_for(connectors: Connectors, account: AnyAccount) -> AccountSources:
    """The account's mail source and, if it has one, its calendar source."""
    sources: list[tuple[str, Source]] = [("mail:", connectors.mail(account))]
    calendar = connectors.calendar(account)
    if calendar is not None:
        sources.append(("calendar:", calendar))
    return AccountSources(account.name, account.kind, sources)


class _Stopped(Exception):
    """`Syncer.should_stop` said so between two batches."""


class Syncer:
    """Runs sync passes for one owner against one store."""

    # Called in every transaction that stores a batch or a cursor, with the account's name;
    # raises `LeaseLost` when this worker may no longer write for it (syncd/sync/leases.py).
    guard: Callable[[Session, str], None] | None = None

    def __init__(
        self,
        store: Store,
        config: Config,
        owner_id: int,
        connectors: Connectors | None = None,
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.owner_id = owner_id
        self.connectors = connectors or Connectors(config)
        # Asked between batches and streams; True ends the pass there (SIGTERM in the daemon).
        self.should_stop: Callable[[], bool] = should_stop or (lambda: False)
        self.identity = config.owner.identity()
        self.options = config.settings.classify.options(config.settings.sync.max_group_size)

    def ensure_account(self, name: str, kind: str, now: datetime) -> int:
        with self.store.session() as s, s.begin():
            return ensure_account(s, self.owner_id, name, kind, now)

    def sync_account(
        self,
        account: AccountSources,
        *,
        now: datetime,
        full: bool = False,
        progress: Progress | None = None,
    ) -> list[StreamReport]:
        """Sync every stream of `account`; a lease lost on the way ends it, unrecorded (the
        worker that took the account over records it)."""
        log.info("sync.account.started", extra={"account": account.name})
        try:
            reports = self._sync_account(account, now=now, full=full, progress=progress)
        except LeaseLost:
            log.warning("sync.account.lease_lost", extra={"account": account.name})
            return []
        log.info("sync.account.done", extra={"account": account.name, "streams": len(reports)})
        return reports

    def _sync_account(
        self,
        account: AccountSources,
        *,
        now: datetime,
        full: bool = False,
        progress: Progress | None = None,
    ) -> list[StreamReport]:
        progress = progress or NoProgress()
        account_id = self.ensure_account(account.name, account.kind, now)
        reports: list[StreamReport] = []
        for prefix, source in account.sources:
            if self.should_stop():
                break
            try:
                streams = source.streams()
            except ConnectorError as exc:
                report = StreamReport(account.name, prefix.rstrip(":"), "?", error=str(exc))
                report.error_kind = _error_kind(exc)
                report.retry_after = retry_after_of(exc)
                reports.append(report)
                self._record_account_error(account_id, exc, now)
                log.warning(
                    "sync.source.failed", extra={"account": account.name, "error": str(exc)}
                )
                continue
            # Sent mail first: incoming mail is weighed against it (syncd.ingest.owner_history).
            for info in sorted(streams, key=lambda i: i.role != "sent"):
                if self.should_stop():
                    break
                report = self._sync_stream(
                    account_id,
                    account.name,
                    source,
                    prefix + info.name,
                    info,
                    now=now,
                    full=full,
                    progress=progress,
                )
                reports.append(report)
        self._finish_account(account_id, reports, now)
        return reports

    def _sync_stream(
        self,
        account_id: int,
        account_name: str,
        source: Source,
        stream_name: str,
        info: StreamInfo,
        *,
        now: datetime,
        full: bool,
        progress: Progress,
    ) -> StreamReport:
        report = StreamReport(account_name, stream_name, info.kind)
        stream_id, cursor = self._stream_row(account_id, stream_name, info.kind)
        privacy = self._privacy()
        ctx = IngestContext(
            owner_id=self.owner_id,
            account_id=account_id,
            stream_id=stream_id,
            identity=self.identity,
            options=self.options,
            contact_policy=self.config.settings.sync.contact_policy,
            privacy=privacy,
            now=now,
        )
        progress.start_stream(
            f"{account_name} {stream_name}", _hint(source, info) if full or cursor is None else None
        )
        try:
            try:
                self._drain(
                    source, info, cursor, ctx, report, now=now, full=full, progress=progress
                )
            except CursorExpired as exc:
                log.warning(
                    "sync.cursor.expired",
                    extra={"account": account_name, "stream": stream_name, "error": str(exc)},
                )
                report.resynced = True
                self._resync(source, info, cursor, ctx, report, now=now, progress=progress)
        except _Stopped:
            report.stopped = True
        except AuthFailed as exc:
            report.error, report.error_kind = f"authorisation failed: {exc}", "auth"
            self._record_stream_error(stream_id, report.error, now)
        except ConnectorError as exc:
            report.error, report.error_kind = str(exc), _error_kind(exc)
            report.retry_after = retry_after_of(exc)
            self._record_stream_error(stream_id, report.error, now)
        finally:
            progress.end_stream()
        if report.stopped:
            log.info(
                "sync.stream.stopped",
                extra={"account": account_name, "stream": stream_name, "read": report.read},
            )
        elif report.error:
            log.warning(
                "sync.stream.failed",
                extra={"account": account_name, "stream": stream_name, "error": report.error},
            )
        else:
            log.info(
                "sync.stream.done",
                extra={
                    "account": account_name,
                    "stream": stream_name,
                    "read": report.read,
                    "new": report.result.new_interactions,
                },
            )
        return report

    def _drain(
        self,
        source: Source,
        info: StreamInfo,
        cursor: str | None,
        ctx: IngestContext,
        report: StreamReport,
        *,
        now: datetime,
        full: bool,
        progress: Progress,
    ) -> None:
        # A first or full read stores many batches: SQLite gets a larger page cache for it,
        # and the cyclic collector leaves the modules' objects alone (syncd/gcpause.py).
        first = cursor is None or full
        with (
            self.store.backfill_cache() if first else nullcontext(),
            frozen_heap() if first else nullcontext(),
        ):
            for meta, prepared in self._batches(source, info, cursor, ctx, report, now, full):
                self._store_prepared(
                    prepared,
                    meta.removed,
                    meta.cursor,
                    meta.read,
                    info,
                    ctx,
                    report,
                    now=now,
                    progress=progress,
                )
                if self.should_stop() and not meta.done:
                    raise _Stopped

    def _batches(
        self,
        source: Source,
        info: StreamInfo,
        cursor: str | None,
        ctx: IngestContext,
        report: StreamReport,
        now: datetime,
        full: bool,
    ) -> Iterator[tuple[BatchMeta, Prepared]]:
        if self._in_two_processes(source, info, cursor, full, report):
            # A large first read: a child process reads and classifies (syncd/sync/pipeline.py).
            return prepared_batches(
                self.config, report.account, "mail", info, cursor, full=full, now=now, ctx=ctx
            )
        polled = source.poll(info, cursor, now=now, full=full)
        if cursor is not None and not full:
            # A poll from a cursor is mostly one small batch: no thread for it (the daemon
            # polls every stream of every account, as often as every second).
            return prepare_each(polled, ctx)
        # A thread reads and classifies the next batch while this one is stored
        # (syncd/sync/prefetch.py), in turns: while the store is inside one statement or
        # a commit, which SQLite and psycopg run without the GIL.
        gate = Gate()
        batches = prefetch(prepare_each(polled, ctx), gate=gate)
        return _gated(batches, self.store.around_long_calls(gate.open, gate.close))

    def _in_two_processes(
        self, source: Source, info: StreamInfo, cursor: str | None, full: bool, report: StreamReport
    ) -> bool:
        """Whether to read this stream through a child process: a first (or full) read of a
        mail folder with at least `sync.parallel_backfill_min` messages."""
        least = self.config.settings.sync.parallel_backfill_min
        if least <= 0 or not (full or cursor is None) or not report.stream.startswith("mail:"):
            return False
        size = _hint(source, info)
        return size is not None and size >= least

    def _resync(
        self,
        source: Source,
        info: StreamInfo,
        expired: str | None,
        ctx: IngestContext,
        report: StreamReport,
        *,
        now: datetime,
        progress: Progress,
    ) -> None:
        """A full read after `expired` was refused; the new cursor is stored at the end,
        with the sources the read replaced dropped in the same transaction."""
        seen: set[str] = set()
        final = expired
        with self.store.backfill_cache(), frozen_heap():
            for batch in prefetch(source.poll(info, None, now=now, full=True)):
                seen.update(item.provider_id for item in batch.items)
                final = batch.cursor
                self._store_batch(batch, expired, info, ctx, report, now=now, progress=progress)
                if self.should_stop() and not batch.done:
                    raise _Stopped  # the expired cursor stays: the next pass resyncs again
        with self.store.session() as s, s.begin():
            self._before_write(s, report.account)
            dropped = drop_replaced_sources(s, ctx.stream_id, seen)
            self._store_cursor(s, ctx.stream_id, final, now, 0)
        log.info("sync.resync.done", extra={"stream": info.name, "replaced_sources": dropped})

    def _store_batch(
        self,
        batch: Batch,
        cursor: str | None,
        info: StreamInfo,
        ctx: IngestContext,
        report: StreamReport,
        *,
        now: datetime,
        progress: Progress,
    ) -> None:
        """Store `batch` and `cursor` in one transaction."""
        prepared = prepare_batch(ctx, batch.items)
        self._store_prepared(
            prepared,
            batch.removed,
            cursor,
            batch.read,
            info,
            ctx,
            report,
            now=now,
            progress=progress,
        )

    def _store_prepared(
        self,
        prepared: Prepared,
        removed: Sequence[str],
        cursor: str | None,
        read: int,
        info: StreamInfo,
        ctx: IngestContext,
        report: StreamReport,
        *,
        now: datetime,
        progress: Progress,
    ) -> None:
        """Store a prepared batch and `cursor` in one transaction."""
        with self.store.session() as s, s.begin():
            self._before_write(s, report.account)
            result = store_prepared(s, ctx, prepared, removed)
            self._store_cursor(s, ctx.stream_id, cursor, now, prepared.seen)
        report.result.add(result)
        report.items += prepared.seen
        report.read += read
        progress.advance(prepared.seen)
        log.debug(
            "sync.batch.stored",
            extra={"stream": info.name, "items": prepared.seen, "new": result.new_interactions},
        )

    def _before_write(self, s: Session, account: str) -> None:
        """Writers of one owner take turns (ingest reads, then inserts); then the lease."""
        lock_owner_writes(s, self.owner_id)
        if self.guard is not None:
            self.guard(s, account)

    def _stream_row(self, account_id: int, name: str, kind: str) -> tuple[int, str | None]:
        with self.store.session() as s, s.begin():
            row = stream_row(s, self.owner_id, account_id, name, kind, create=True)
            assert row is not None
            return row

    def _store_cursor(
        self, s: Session, stream_id: int, cursor: str | None, now: datetime, items: int
    ) -> None:
        stream = s.get(Stream, stream_id)
        assert stream is not None
        if cursor != stream.cursor:
            stream.cursor = cursor
            stream.cursor_at = now
        stream.last_sync_at = now
        stream.last_error = None
        stream.items = (stream.items or 0) + items

    def _privacy(self) -> Privacy:
        p = self.config.settings.privacy
        with self.store.session() as s:
            return load_privacy(s, self.owner_id, p.block, p.skip_internal)

    def _record_stream_error(self, stream_id: int, error: str, now: datetime) -> None:
        with self.store.session() as s, s.begin():
            stream = s.get(Stream, stream_id)
            if stream is not None:
                stream.last_error = error[:2000]
                stream.last_sync_at = now

    def record_account_failure(self, name: str, kind: str, exc: Exception, now: datetime) -> None:
        self._record_account_error(self.ensure_account(name, kind, now), exc, now)

    def _record_account_error(self, account_id: int, exc: Exception, now: datetime) -> None:
        with self.store.session() as s, s.begin():
            acc = s.get(Account, account_id)
            if acc is not None:
                acc.state = "needs_reauth" if isinstance(exc, AuthFailed) else "failing"
                acc.last_error = str(exc)[:2000]
                # No stream could be read: each says so, and since when (accounts status).
                for stream in streams_of(s, account_id):
                    stream.last_error = acc.last_error
                    stream.last_sync_at = now

    def _finish_account(self, account_id: int, reports: list[StreamReport], now: datetime) -> None:
        errors = [r.error for r in reports if r.error]
        with self.store.session() as s, s.begin():
            acc = s.get(Account, account_id)
            if acc is None:
                return
            if errors:
                acc.state = (
                    "needs_reauth" if any("authorisation" in e for e in errors) else "failing"
                )
                acc.last_error = errors[0][:2000]
            else:
                acc.state = "ok"
                acc.last_error = None


def _error_kind(exc: Exception) -> str:
    if isinstance(exc, AuthFailed):
        return "auth"
    if isinstance(exc, SourceUnavailable):
        return "unavailable"
    if isinstance(exc, SourceInvalid):
        return "invalid"
    return "connector" if isinstance(exc, ConnectorError) else "setup"


def _gated(batches: Iterator[T], around: AbstractContextManager[None]) -> Iterator[T]:
    """`batches`, with `around` entered from the first batch to the last (it stays entered
    while the caller stores each one)."""
    with around:
        yield from batches


def _hint(source: Source, info: StreamInfo) -> int | None:
    """A source may say how many items a full read will yield, for the progress bar."""
    if not isinstance(source, SizeHinted):
        return None
    try:
        value = source.size_hint(info)
    except ConnectorError:
        return None
    return value if isinstance(value, int) else None


def sync_all(
    syncer: Syncer,
    *,
    now_fn: Callable[[], datetime],
    account: str | None = None,
    full: bool = False,
    progress: Progress | None = None,
) -> SyncReport:
    report = SyncReport()
    config = syncer.config
    accounts = [config.settings.account(account)] if account else config.settings.accounts
    for acc in accounts:
        try:
            sources = sources_for(syncer.connectors, acc)
        except (SyncdError, ConnectorError) as exc:
            # A missing secret or an unusable source fails this account, not the run.
            syncer.record_account_failure(acc.name, acc.kind, exc, now_fn())
            report.streams.append(
                StreamReport(acc.name, "*", "?", error=str(exc), error_kind=_error_kind(exc))
            )
            continue
        report.streams.extend(
            syncer.sync_account(sources, now=now_fn(), full=full, progress=progress)
        )
    return report
