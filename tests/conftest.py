"""Shared fixtures: stores on SQLite and on a real PostgreSQL, configs, Maildir writers.

PostgreSQL is the server on 127.0.0.1 (user postgres, database test; override with
SYNCD_TEST_PG). Each test that asks for it gets a database of its own. Where the server is
missing the PostgreSQL variants are skipped, except when SYNCD_REQUIRE_SERVICES names
postgres (CI sets it): then they fail, so CI never passes without them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

settings.register_profile("dev", max_examples=100, deadline=None)
# The fast tier's (scripts/test.sh --fast): every property, on half the dev examples.
settings.register_profile("fast", max_examples=50, deadline=None)
settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# Fixed examples and no shrinking: what bench/mutation.sh runs each mutant under, so a
# failing mutant is reported at once and two runs of the same code agree.
settings.register_profile(
    "derandomized",
    max_examples=100,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# Tables are drawn as wide as the output allows; without a terminal rich takes 80 columns
# and wraps long temporary paths, so what a test looks for could depend on the path's
# length (longer under pytest-xdist). Subprocesses inherit this.
os.environ["COLUMNS"] = "240"

# The real servers' fixtures: `dovecot` and `radicale` (session-scoped); the fake Google
# (`fake_google`, one per test) and the fake Microsoft (`fake_microsoft`, one per test);
# a headless browser (`chromium`, session-scoped).
pytest_plugins = [
    "tests.dovecot",
    "tests.radicale",
    "tests.fake_google",
    "tests.fake_microsoft",
    "tests.chromium",
]

PG_ADMIN = os.environ.get("SYNCD_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def required(service: str) -> bool:
    names = os.environ.get("SYNCD_REQUIRE_SERVICES", "")
    return service in {n.strip() for n in names.split(",")}


def _pg_admin_engine():  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_available() -> bool:
    try:
        from sqlalchemy import text

        engine = _pg_admin_engine()
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception as exc:  # any failure to reach the server means "not here"
        if required("postgres"):
            pytest.fail(f"PostgreSQL is required here but not reachable at {PG_ADMIN}: {exc}")
        return False


@pytest.fixture
def pg_url(pg_available: bool) -> Iterator[str]:
    if not pg_available:
        pytest.skip("no PostgreSQL on 127.0.0.1 (set SYNCD_REQUIRE_SERVICES=postgres to fail)")
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = f"syncd_test_{uuid.uuid4().hex[:12]}"
    engine = _pg_admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'syncd.db'}"
    return str(request.getfixturevalue("pg_url"))


# Tiers. The fast tier is pure code and SQLite:
# `pytest -m "not integration and not slow and not e2e"` (scripts/test.sh --fast). A test
# joins `integration` by asking for a real server or the browser, or by running on
# PostgreSQL; nobody has to remember that marker. `e2e` is set by hand on the tests that
# run syncd as a real process (daemons, signals, sockets, installs, two processes, the CLI
# against the fake providers); one-shot CLI commands on a Maildir and SQLite stay fast.
_SERVER_FIXTURES = frozenset(
    {"dovecot", "dovecot_server", "radicale", "chromium", "pg_url", "pg_available"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if names & _SERVER_FIXTURES or "postgres" in params.values():
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _daemon_log_level() -> Iterator[None]:
    """A command run in this process (click's CliRunner) calls setup_logging, which sets
    the daemon logger to INFO; that must not reach the next test in the worker, where
    `caplog` would then collect the daemon's pass lines."""
    import logging

    daemon = logging.getLogger("syncd.daemon")
    level = daemon.level
    yield
    daemon.setLevel(level)


@pytest.fixture(autouse=True)
def _nothing_stays_frozen() -> Iterator[None]:
    """A command run in this process (CliRunner, `syncd plan`) may freeze what is alive
    (syncd/gcpause.py: a one-shot command's result lives until it exits); a test worker
    lives on, so the next test gets the frozen objects back to the collector."""
    import gc

    yield
    gc.unfreeze()
