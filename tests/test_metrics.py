"""The Prometheus endpoint of `syncd run`: scraped over HTTP from a real daemon process, and
the store's series true at scrape time; only loopback unless explicitly allowed."""

from __future__ import annotations

import socket
import sqlite3
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from syncd.config import load_config
from syncd.errors import ConfigError
from tests.test_daemon import Daemon_, _one_message
from tests.util import make_maildir, write_config


def _free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.e2e
def test_the_daemon_serves_its_series_on_loopback(tmp_path: Path) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX")
    for i in range(3):
        _one_message(mail, i)
    db = tmp_path / "s.db"
    port = _free_port()
    cfg = write_config(
        tmp_path / "c.toml",
        f'[daemon]\nmetrics = "127.0.0.1:{port}"\npoll_interval = "1h"\n'
        f'[[accounts]]\nname = "w"\nkind = "maildir"\npath = "{mail}"\n'
        f'[[accounts]]\nname = "gone"\nkind = "maildir"\npath = "{tmp_path / "nowhere"}"\n',
        store_url=f"sqlite:///{db}",
    )
    daemon = Daemon_(cfg)
    try:
        daemon.wait_for(daemon.logged("daemon.pass.done"))
        m = _scrape(port)
        inbox = (("account", "w"), ("stream", "mail:INBOX"))
        assert m[("syncd_items_ingested_total", inbox)] == 3
        assert m[("syncd_interactions_new_total", (("account", "w"),))] == 3
        assert m[("syncd_sync_duration_seconds_count", (("account", "w"),))] == 1
        assert m[("syncd_sync_errors_total", (("account", "gone"), ("kind", "invalid")))] == 1
        assert 0 <= m[("syncd_cursor_age_seconds", inbox)] < 60
        assert m[("syncd_stream_failing", inbox)] == 0
        assert m[("syncd_store_up", ())] == 1
        assert m[("syncd_accounts", (("state", "ok"),))] == 1
        assert m[("syncd_accounts", (("state", "failing"),))] == 1
        assert m[("syncd_accounts_needing_reauth", ())] == 0
        assert m[("syncd_actions", (("state", "planned"),))] == 0

        # Read from the store at scrape time: another process's change shows at once.
        with closing(sqlite3.connect(db, timeout=10)) as conn, conn:
            conn.execute("update accounts set state = 'needs_reauth' where name = 'w'")
        assert _scrape(port)[("syncd_accounts_needing_reauth", ())] == 1
    finally:
        code, _took = daemon.stop()
    assert code == 0, daemon.text()[-3000:]
    # Served on 127.0.0.1 only: nothing answers on another of the host's addresses.
    with pytest.raises(OSError), closing(socket.create_connection(("127.0.0.2", port), 1)):
        pass


@pytest.mark.parametrize(
    ("address", "public", "error"),
    [
        ("0.0.0.0:9464", False, "daemon.metrics: 0.0.0.0 is not a loopback address"),
        ("192.0.2.7:9464", False, "not a loopback address"),
        ("127.0.0.1", False, "daemon.metrics: '127.0.0.1' is not HOST:PORT"),
        ("[::1]:99999", False, "is not HOST:PORT"),
        ("0.0.0.0:9464", True, None),
        ("[::1]:9464", False, None),
        ("localhost:9464", False, None),
    ],
)
def test_metrics_address_is_loopback_unless_allowed(
    tmp_path: Path, address: str, public: bool, error: str | None
) -> None:
    cfg = write_config(
        tmp_path / "c.toml",
        f'[daemon]\nmetrics = "{address}"\nmetrics_public = {str(public).lower()}\n',
    )
    if error is None:
        assert load_config(cfg).settings.daemon.metrics == address
    else:
        with pytest.raises(ConfigError, match=error.replace("[", r"\[").replace(".", r"\.")):
            load_config(cfg)
