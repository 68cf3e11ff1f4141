"""Opening the store: engines for SQLite and PostgreSQL, sessions, and migrations.

SQLite runs with WAL, a busy timeout and foreign keys on every connection. Migrations are
Alembic's, shipped inside the package so that an installed `syncd` can migrate its store.

Importing this module loads no SQLAlchemy: a `Store` makes its engine when it is first
used, and on a SQLite file `check_ready`, `ensure_owner` (of an owner that exists) and
`read_connection` need none (syncd/store/reader.py), which is all `syncd plan` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncd.errors import StoreError
from syncd.gcpause import importing
from syncd.store.reader import READ_ONLY, Reader, SqliteReader, engine_reader, sqlite_file

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

# The ORM (sqlalchemy.orm and syncd.store.models, a quarter of a second to import) loads
# when a session is first asked for: `syncd plan` reads over a connection and never does.

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration. Every command checks the store against it; reading it from the
# migration scripts would load Alembic on every start. A test keeps the two equal.
SCHEMA_HEAD = "0008"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Prepared statements each SQLite connection keeps (Python's default is 128). Every size of
# an IN list is a statement of its own, so the cache fills slowly with sizes seen once, at
# about 16 KB each: a daemon polling every second grew by 2-3 MB over half an hour. A
# poll's own statements fit in this many.
SQLITE_CACHED_STATEMENTS = 32
# SQLite's page cache (KiB) and WAL checkpoint interval (pages) on the connections that
# store a backfill (Store.backfill_cache). A first read inserts into random places of every
# index: with SQLite's default 2 MB the index pages of a 100,000-message store were read
# again in every write transaction, and with the default checkpoint every 1,000 pages nearly
# every batch's commit copied its pages into the database file (and synced it), the same
# index pages again and again. Outside a backfill the connections go back to the defaults,
# so a long-running daemon's memory and WAL file stay as they were.
SQLITE_BACKFILL_CACHE_KIB = 16_384
SQLITE_BACKFILL_CHECKPOINT_PAGES = 10_000
# The first key of PostgreSQL advisory locks taken by syncd ("SY"); the second is the owner.
ADVISORY_NAMESPACE = 0x5359


def make_engine(url: str) -> Engine:
    """An engine for `url`; for SQLite the folder is created (0700) and pragmas set."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from syncd.folders import ensure_folder

            ensure_folder(Path(parsed.database).parent)
        engine = create_engine(
            url,
            connect_args={
                "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                "cached_statements": SQLITE_CACHED_STATEMENTS,
            },
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take over so that writers
        # queue on the busy timeout instead of failing with "database is locked". Sessions
        # that only read (Store.read_session) begin DEFERRED: in WAL mode they then never
        # hold the write lock, so a long report cannot make the daemon's writes time out.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_begin(conn: Any) -> None:
    read_only = conn.get_execution_options().get(READ_ONLY, False)
    conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def lock_owner_writes(session: Session, owner_id: int) -> None:
    """Make the owner's ingest transactions take turns, as they do on SQLite.

    Ingest reads what exists, then inserts what is new (interactions by Message-ID, contacts
    by address), which is only right with one writer at a time. SQLite gives that with
    BEGIN IMMEDIATE; on PostgreSQL several workers may store batches of different accounts
    that share messages and people, so each such transaction first takes a transaction-level
    advisory lock on the owner (released at commit). Reading from the providers, the slow
    part, still runs in parallel.
    """
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :owner)"),
            {"ns": ADVISORY_NAMESPACE, "owner": owner_id},
        )


def alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str | None:
    """The newest revision, as the migration scripts say (loads Alembic)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The store's revision, read with plain SQL (no Alembic import at start-up)."""
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the store to the newest schema; returns (revision before, revision after)."""
    from alembic import command

    before = current_revision(engine)
    command.upgrade(alembic_config(engine), "head")
    return before, current_revision(engine)


class Store:
    """The engine and session factory for one store URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._backfill = False  # a backfill is being stored (SQLite pragmas)

    @cached_property
    def engine(self) -> Engine:
        """Made on first use (importing SQLAlchemy): see the module's note."""
        # SQLAlchemy's modules live as long as the process: frozen when this imports them.
        with importing("sqlalchemy"):
            engine = make_engine(self.url)
            if engine.dialect.name == "sqlite":
                from sqlalchemy import event

                event.listen(engine, "checkout", self._sqlite_backfill_pragmas)
        return engine

    @contextmanager
    def around_long_calls(
        self, enter: Callable[[], None], leave: Callable[[], None]
    ) -> Iterator[None]:
        """Inside, `enter()` is called just before each statement that is one call into the
        driver and before each commit, and `leave()` after each statement: the stretches in
        which this thread holds no GIL for long (a prefetch's reader runs then,
        syncd/sync/prefetch.py). An ``executemany`` is not one: the driver takes the GIL
        back at every row. Only this thread's statements count: another thread sharing
        the store never opens or closes anything."""
        from sqlalchemy import event

        mine = threading.get_ident()

        def before(*args: Any) -> None:
            if not args[-1] and threading.get_ident() == mine:  # args[-1]: executemany
                enter()

        def after(*_args: Any) -> None:
            if threading.get_ident() == mine:
                leave()

        def commit(_conn: Any) -> None:
            if threading.get_ident() == mine:
                enter()

        hooks: list[tuple[str, Callable[..., None]]] = [
            ("before_cursor_execute", before),
            ("after_cursor_execute", after),
            ("commit", commit),
        ]
        engine = self.engine
        for name, fn in hooks:
            event.listen(engine, name, fn)
        try:
            yield
        finally:
            for name, fn in hooks:
                event.remove(engine, name, fn)

    @contextmanager
    def backfill_cache(self) -> Iterator[None]:
        """Inside, SQLite connections get SQLITE_BACKFILL_CACHE_KIB of page cache and a WAL
        checkpoint every SQLITE_BACKFILL_CHECKPOINT_PAGES; after, the defaults again (the
        next time each is used). Nothing on PostgreSQL."""
        self._backfill = True
        try:
            yield
        finally:
            self._backfill = False

    def _sqlite_backfill_pragmas(self, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        info = record.info
        defaults = info.get("pragma_defaults")
        if defaults is None:
            if not self._backfill:
                return  # never changed: nothing to restore
            cur = dbapi_conn.cursor()
            defaults = info["pragma_defaults"] = (
                cur.execute("PRAGMA cache_size").fetchone()[0],
                cur.execute("PRAGMA wal_autocheckpoint").fetchone()[0],
            )
            cur.close()
        want = (
            (-SQLITE_BACKFILL_CACHE_KIB, SQLITE_BACKFILL_CHECKPOINT_PAGES)
            if self._backfill
            else defaults
        )
        if info.get("pragmas") != want:
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA cache_size={int(want[0])}")
            cur.execute(f"PRAGMA wal_autocheckpoint={int(want[1])}")
            cur.close()
            info["pragmas"] = want

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        # The ORM's modules live as long as the process: frozen when this imports them.
        with importing("sqlalchemy.orm"):
            from sqlalchemy.orm import sessionmaker

            return sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessions()

    def read_session(self) -> Session:
        """A session for reading only (reports, listings): on SQLite it does not take the
        write lock, so it never makes a writer wait, however long it runs."""
        with importing("sqlalchemy.orm"):  # as `sessions`
            from sqlalchemy.orm import Session

        return Session(self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)

    def read_connection(self) -> Reader:
        """A connection for reading only, as `read_session`, without the ORM: SQL text
        (syncd/store/snapshot.py) runs on it in one transaction, begun on first use. On a
        SQLite file it is Python's `sqlite3`, without SQLAlchemy (syncd/store/reader.py)."""
        path = sqlite_file(self.url)
        if path is None:
            return engine_reader(self.engine)
        return SqliteReader(
            path,
            timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            cached_statements=SQLITE_CACHED_STATEMENTS,
        )

    def check_ready(self, *, auto_create: bool = True) -> None:
        """Fail with a clear error unless the schema is current.

        A brand-new store is created on first use (nothing to lose); an old one must be
        migrated with `syncd init`, so that an upgrade never changes a schema unasked.
        """
        head = SCHEMA_HEAD
        if self._sqlite_revision() == head:
            return  # the usual case, without SQLAlchemy on a SQLite file
        from sqlalchemy.exc import DBAPIError

        try:
            current = current_revision(self.engine)
        except DBAPIError as exc:  # cannot connect, or not a database ("file is not a database")
            raise StoreError(f"cannot open the store {self.display_url}: {exc.orig}") from None
        if current == head:
            return
        if current is None and auto_create and self.is_empty():
            migrate(self.engine)
            return
        raise StoreError(
            f"the store {self.display_url} is at schema {current or 'none'},"
            f" this syncd needs {head}"
        )

    def _sqlite_revision(self) -> str | None:
        """The revision of a SQLite file read with `sqlite3`; None where there is none to
        read that way (then `check_ready` asks the engine, and says what is wrong)."""
        if sqlite_file(self.url) is None:
            return None
        import sqlite3

        try:
            with self.read_connection() as conn:
                rows = conn.rows("SELECT version_num FROM alembic_version", {})
        except sqlite3.Error:
            return None
        return str(rows[0][0]) if len(rows) == 1 else None

    def is_empty(self) -> bool:
        """The database has no tables yet (a new store)."""
        from sqlalchemy import inspect

        return not inspect(self.engine).get_table_names()

    @property
    def display_url(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)

    def ensure_owner(self, name: str, now: datetime) -> int:
        # Nearly always there: looked up without the write lock or the ORM.
        with self.read_connection() as conn:
            found = conn.rows("SELECT id FROM owners WHERE name = :name", {"name": name})
        if found:
            return int(found[0][0])
        from sqlalchemy.exc import IntegrityError

        try:
            return self._ensure_owner(name, now)
        except IntegrityError:  # another worker created it at the same moment
            return self._ensure_owner(name, now)

    def _ensure_owner(self, name: str, now: datetime) -> int:
        from sqlalchemy import select

        from syncd.store.models import Owner

        with self.session() as s, s.begin():
            owner_id = s.scalar(select(Owner.id).where(Owner.name == name))
            if owner_id is None:
                owner = Owner(name=name, created_at=now)
                s.add(owner)
                s.flush()
                owner_id = owner.id
            return owner_id

    def dispose(self) -> None:
        if "engine" in self.__dict__:  # made: see `engine`
            self.engine.dispose()
