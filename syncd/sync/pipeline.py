"""A large backfill in two processes: a child reads and classifies, the parent stores.

Reading a mailbox (socket or disk, parsing the header sections) and classifying each
message are pure Python; storing is SQLite's or PostgreSQL's work plus the Python that
feeds it. On one process the two add up, and threads do not help because of the GIL. For
a first read of a large folder, `prepared_batches` starts a child process that builds its
own copy of the account's source from the same config, polls the stream and classifies each
batch (`ingest.prepare_batch`), and hands the prepared batches, in order, with their
cursors, to the parent, which stores each one with its cursor in one transaction, exactly
as a plain poll would be stored.

Nothing is lost or doubled by this: the child never writes to the store, and the parent
commits batch and cursor together; if either process dies, the stream resumes from the
last committed cursor. An error in the child (a dropped connection, an expired cursor)
arrives in the parent as the same exception, after the batches read before it. The child
is started with "spawn" (the parent has threads: fork would copy their locks), costs a
second or so to start, and so is used only when a stream has many items to read.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from connectors.base import Batch, SourceUnavailable, StreamInfo
from syncd.config import Config
from syncd.gcpause import frozen_heap
from syncd.ingest.batch import IngestContext, Prepared, prepare_batch

log = logging.getLogger("syncd.pipeline")

# A first read of fewer items than this is done in one process: starting the child costs
# about as much as classifying this many messages.
MIN_ITEMS = 20_000
_DEPTH = 2  # prepared batches waiting in the queue
_POLL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class BatchMeta:
    """A batch as the parent needs it, without its raw items."""

    cursor: str | None
    read: int
    removed: tuple[str, ...]
    done: bool


@dataclass(frozen=True, slots=True)
class _Job:
    config: Config
    account: str
    which: Literal["mail", "calendar"]
    stream: StreamInfo
    cursor: str | None
    full: bool
    now: datetime
    ctx: IngestContext


def prepared_batches(
    config: Config,
    account: str,
    which: Literal["mail", "calendar"],
    stream: StreamInfo,
    cursor: str | None,
    *,
    full: bool,
    now: datetime,
    ctx: IngestContext,
) -> Iterator[tuple[BatchMeta, Prepared]]:
    """The stream's batches, read and classified in a child process, in order."""
    mp = multiprocessing.get_context("spawn")
    results: Any = mp.Queue(maxsize=_DEPTH)
    stop = mp.Event()
    job = _Job(config, account, which, stream, cursor, full, now, ctx)
    child = mp.Process(
        target=_child, args=(job, results, stop), name=f"syncd-reader-{account}", daemon=True
    )
    child.start()
    log.info("pipeline.started", extra={"account": account, "stream": stream.name})
    try:
        while True:
            try:
                kind, payload = results.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if not child.is_alive():
                    raise SourceUnavailable(
                        f"the reader process for {account} {stream.name} ended unexpectedly"
                        f" (exit code {child.exitcode})"
                    ) from None
                continue
            if kind == "batch":
                yield payload
            elif kind == "error":
                raise payload
            else:
                log.info(
                    "pipeline.done",
                    extra={"account": account, "stream": stream.name, **(payload or {})},
                )
                return
    finally:
        stop.set()
        _drain(results)
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()
            child.join(timeout=5)
        results.close()
        results.join_thread()


def _drain(results: Any) -> None:
    try:
        while True:
            results.get_nowait()
    except (queue.Empty, OSError, ValueError):
        pass


def prepare_each(
    batches: Iterable[Batch], ctx: IngestContext
) -> Iterator[tuple[BatchMeta, Prepared]]:
    """Each batch classified (`ingest.prepare_batch`), its raw items let go: what the
    child process sends, and what `Syncer` reads through a thread in one process."""
    for batch in batches:
        meta = BatchMeta(batch.cursor, batch.read, tuple(batch.removed), batch.done)
        yield meta, prepare_batch(ctx, batch.items)


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # not on every platform
        return None
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _child(job: _Job, results: Any, stop: Any) -> None:
    """Runs in the child: poll the stream, prepare each batch, send it."""

    def send(kind: str, payload: object) -> bool:
        while not stop.is_set():
            try:
                results.put((kind, payload), timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    connectors = None
    try:
        from syncd.sync.connect import Connectors

        acc = next(a for a in job.config.settings.accounts if a.name == job.account)
        connectors = Connectors(job.config)
        source = connectors.mail(acc) if job.which == "mail" else connectors.calendar(acc)
        if source is None:
            raise SourceUnavailable(f"account {job.account} has no {job.which} source")
        batches = source.poll(job.stream, job.cursor, now=job.now, full=job.full)
        with frozen_heap():  # the modules' objects left out of collections (syncd/gcpause.py)
            for prepared in prepare_each(batches, job.ctx):
                if not send("batch", prepared):
                    return
        send("done", {"reader_peak_rss_mb": _peak_rss_mb()})
    except BaseException as exc:  # handed to the parent, which raises it
        try:
            send("error", exc)
        except Exception:  # an exception that does not pickle: say what it was
            send("error", SourceUnavailable(f"{type(exc).__name__}: {exc}"))
    finally:
        if connectors is not None:
            connectors.close()
