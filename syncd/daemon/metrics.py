"""Prometheus metrics of `syncd run`, on a loopback address when `[daemon] metrics` is set.

Two kinds of series. What happens in this process (items stored, how long a sync took,
errors by kind) is counted as it happens. What the store knows (how old each stream's
cursor is, the outbox's actions by state, the accounts waiting for re-authorisation) is
read from the store when Prometheus scrapes, by `StoreCollector`, so it is true whoever
changed it: another worker, `syncd accounts auth`, `syncd actions dismiss`.

The registry is this module's own, not prometheus_client's global one, so nothing a
library registers there is served, and tests can make as many as they like.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from syncd.store.errors import DatabaseError
from syncd.store.overview import accounts_by_state, actions_by_state, stream_states

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from syncd.store.db import Store
    from syncd.sync.passes import StreamReport

log = logging.getLogger("syncd.metrics")

ACCOUNT_STATES = ("ok", "failing", "needs_reauth")
ACTION_STATES = ("planned", "executing", "created", "failed", "dismissed", "skipped")
# Seconds: a poll of an unchanged account takes well under a second, a backfill minutes.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class StoreCollector(Collector):
    """Series read from the store at scrape time."""

    def __init__(self, store: Store, owner_id: int, now: Callable[[], datetime]) -> None:
        self._store = store
        self._owner_id = owner_id
        self._now = now

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("syncd_store_up", "1 when the store answered this scrape.")
        try:
            families = list(self._read())
        except DatabaseError as exc:
            log.warning("metrics.store.failed", extra={"error": str(exc)[:300]})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> Iterable[Metric]:
        now = self._now()
        cursor_age = GaugeMetricFamily(
            "syncd_cursor_age_seconds",
            "Time since the stream's cursor last moved (a quiet mailbox's grows too).",
            labels=["account", "stream"],
        )
        sync_age = GaugeMetricFamily(
            "syncd_stream_last_sync_age_seconds",
            "Time since the stream was last polled, successfully or not.",
            labels=["account", "stream"],
        )
        failing = GaugeMetricFamily(
            "syncd_stream_failing",
            "1 when the stream's last poll failed.",
            labels=["account", "stream"],
        )
        accounts = GaugeMetricFamily("syncd_accounts", "Accounts by state.", labels=["state"])
        reauth = GaugeMetricFamily(
            "syncd_accounts_needing_reauth",
            "Accounts whose authorisation was refused: run `syncd accounts auth NAME`.",
        )
        actions = GaugeMetricFamily("syncd_actions", "Outbox actions by state.", labels=["state"])
        with self._store.session() as s:
            streams = stream_states(s, self._owner_id)
            by_state = accounts_by_state(s, self._owner_id)
            action_states = actions_by_state(s, self._owner_id)
        for account, stream, cursor_at, last_sync_at, last_error in streams:
            labels = [account, stream]
            if cursor_at is not None:
                cursor_age.add_metric(labels, max(0.0, (now - cursor_at).total_seconds()))
            if last_sync_at is not None:
                sync_age.add_metric(labels, max(0.0, (now - last_sync_at).total_seconds()))
            failing.add_metric(labels, 1 if last_error else 0)
        for state in sorted(set(ACCOUNT_STATES) | set(by_state)):
            accounts.add_metric([state], by_state.get(state, 0))
        reauth.add_metric([], by_state.get("needs_reauth", 0))
        for state in sorted(set(ACTION_STATES) | set(action_states)):
            actions.add_metric([state], action_states.get(state, 0))
        return [cursor_age, sync_age, failing, accounts, reauth, actions]


class Metrics:
    """The daemon's series and, once `serve` was called, the endpoint serving them."""

    def __init__(self, store: Store, owner_id: int, now: Callable[[], datetime]) -> None:
        self.registry = CollectorRegistry()
        self.items = self._counter(
            "syncd_items_ingested", "Items (messages, events) stored.", "account", "stream"
        )
        self.new_interactions = self._counter(
            "syncd_interactions_new", "Interactions recorded for the first time.", "account"
        )
        self.sync_seconds = Histogram(
            "syncd_sync_duration_seconds",
            "How long one sync of an account took.",
            ["account"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.errors = self._counter(
            "syncd_sync_errors",
            "Failed polls by kind: auth, unavailable, invalid, connector, setup.",
            "account",
            "kind",
        )
        self.rules_runs = self._counter(
            "syncd_rules_runs", "Runs of the rules, by outcome.", "outcome"
        )
        self.registry.register(StoreCollector(store, owner_id, now))
        self._server: WSGIServer | None = None

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(name, documentation, list(labels), registry=self.registry)

    def observe_sync(self, account: str, reports: Sequence[StreamReport], seconds: float) -> None:
        self.sync_seconds.labels(account).observe(seconds)
        for r in reports:
            if r.items:
                self.items.labels(account, r.stream).inc(r.items)
            if r.result.new_interactions:
                self.new_interactions.labels(account).inc(r.result.new_interactions)
            if r.error:
                self.errors.labels(account, r.error_kind or "connector").inc()

    def serve(self, host: str, port: int) -> None:
        """Serve /metrics on host:port in a thread of its own (prometheus_client's)."""
        from prometheus_client import start_http_server

        self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        log.info("metrics.serving", extra={"address": f"{host}:{port}"})

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


__all__ = ["Metrics", "StoreCollector"]
