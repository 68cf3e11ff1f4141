"""The HTML report in a real browser: headless Chromium draws every chart, logs no error,
loads nothing but the file, and shows hostile names as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from syncd.report.html import PANELS, render_html
from syncd.store.models import Contact
from tests.chromium import Chromium
from tests.test_report import NOW, World, build_world, open_store, report
from tests.util import write_config

HOSTILE_NAME = '<script>alert("name")</script> & <b>Gus</b>'
HOSTILE_TIER = "<img src=x onerror=alert(1)>"

CHARTS_JS = """
(() => Array.from(document.querySelectorAll('.panel')).map(panel => {
  const svg = panel.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const drawn = svg ? Array.from(svg.querySelectorAll('.mark')).filter(m => {
    const b = m.getBBox();
    return b.width > 0 && b.height > 0;
  }).length : 0;
  return {id: panel.id, width: box.width, height: box.height, drawn: drawn};
}))()
"""


def _hostile_world(url: str) -> None:
    store, owner_id = open_store(url)
    with store.session() as s, s.begin():
        w = World(s, owner_id)
        build_world(w)
        w.contact("Mallory", HOSTILE_TIER)
        w.email("out", NOW.replace(month=2, day=2), "Mallory", thread="m1")
        w.email("in", NOW.replace(month=2, day=3), "Mallory", thread="m1")
        gus = s.get(Contact, w.contacts["Gus"])
        assert gus is not None
        gus.name = HOSTILE_NAME
    store.dispose()


@pytest.fixture
def page(tmp_path: Path) -> Path:
    """`syncd report --html` of the hand-computed store, with hostile names added."""
    url = f"sqlite:///{tmp_path / 'state' / 'syncd.db'}"
    _hostile_world(url)
    cfg = write_config(
        tmp_path / "syncd.toml",
        '[tiers]\nkey = { cadence = "14d" }\nregular = { cadence = "90d" }\n'
        f'"{HOSTILE_TIER}" = {{ cadence = "30d" }}\n',
        store_url=url,
    )
    out = tmp_path / "report.html"
    from syncd.cli.root import cli

    result = CliRunner().invoke(
        cli,
        ["--config", str(cfg), "report", "--since", "2026-01-01", "--html", str(out)],
        env={"SYNCD_NOW": NOW.isoformat()},
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # the page is the output; the note goes to stderr
    return out


def test_every_chart_is_drawn_with_no_console_error_and_no_network(
    chromium: Chromium, page: Path
) -> None:
    log = chromium.open(page.as_uri())
    try:
        charts = chromium.evaluate(CHARTS_JS)
        scripts = chromium.evaluate("document.querySelectorAll('script, img, iframe').length")
        text = chromium.evaluate("document.body.innerText")
        tier_labels = chromium.evaluate(
            "Array.from(document.querySelectorAll('#chart-overdue text')).map(t => t.textContent)"
        )
    finally:
        chromium.close_page()
    assert log.errors == []
    assert log.requests == [page.as_uri()]
    assert [c["id"] for c in charts] == [f"chart-{name}" for name, _ in PANELS]
    for chart in charts:
        assert chart["width"] > 200 and chart["height"] > 80, chart
        assert chart["drawn"] > 0, chart
    # hostile strings are text on the page, never elements
    assert scripts == 0
    assert HOSTILE_NAME in text
    assert HOSTILE_TIER in text and HOSTILE_TIER in tier_labels


def test_the_chart_marks_match_the_figures(chromium: Chromium, page: Path) -> None:
    chromium.open(page.as_uri())
    try:
        tips = chromium.evaluate(
            "Array.from(document.querySelectorAll('.mark > title')).map(t => t.textContent)"
        )
    finally:
        chromium.close_page()
    # the hand-computed store and Mallory's thread of Feb 2-3: active 2, 4, 3; February's
    # mail 5 received and 3 sent; January's answered share of the owner's mail 50%
    assert "2026-02: active contacts 4" in tips and "2026-03: active contacts 3" in tips
    assert "2026-02: received 5" in tips and "2026-02: sent 3" in tips
    assert "2026-01: yours answered 50%" in tips
    assert "key: overdue 1" in tips and "key: contacts 4" in tips


def test_an_empty_store_renders_without_errors(chromium: Chromium, tmp_path: Path) -> None:
    store, owner_id = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        doc = report(store, owner_id)
    finally:
        store.dispose()
    out = tmp_path / "empty.html"
    out.write_text(render_html(doc), encoding="utf-8")
    log = chromium.open(out.as_uri())
    try:
        charts = chromium.evaluate(CHARTS_JS)
    finally:
        chromium.close_page()
    assert log.errors == [] and log.requests == [out.as_uri()]
    assert len(charts) == 4 and all(c["width"] > 200 for c in charts)


def test_the_harness_sees_console_errors_and_network_loads(
    chromium: Chromium, tmp_path: Path
) -> None:
    """Without this, a silent harness would pass any page."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><body><p>x</p>"
        '<script>console.error("drawn wrong"); undefinedFunction();</script>'
        '<img src="http://127.0.0.1:9/missing.png"></body></html>',
        encoding="utf-8",
    )
    log = chromium.open(bad.as_uri())
    chromium.close_page()
    assert any("drawn wrong" in e for e in log.errors)
    assert any("undefinedFunction" in e for e in log.errors)
    assert "http://127.0.0.1:9/missing.png" in log.requests


def test_names_are_escaped_in_the_markup() -> None:
    doc: dict[str, Any] = {
        **_minimal_doc(),
        "tiers": [_tier(HOSTILE_TIER)],
        "neglected": [_neglected(HOSTILE_NAME)],
    }
    html = render_html(doc, owner="<i>Alex</i>")
    assert "<script>alert" not in html and "<img src=x" not in html and "<i>Alex" not in html
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def _minimal_doc() -> dict[str, Any]:
    empty = {
        "messages": 0,
        "answered": 0,
        "rate": None,
        "median_response_seconds": None,
        "pending": 0,
    }
    return {
        "generated_at": "2026-03-15T12:00:00Z",
        "since": "2026-03-01T00:00:00Z",
        "until": "2026-03-15T12:00:00Z",
        "settings": {"reply_within_days": 7, "active_window_days": 90, "dormant_after_days": 180},
        "interactions": {"total": 0, "in": 0, "out": 0, "mutual": 0, "per_week": 0.0,
                         "per_month": 0.0, "two_way": 0, "two_way_share": None},
        "response": {"sent": empty, "received": empty},
        "active_network": {"window_days": 90, "current": 0, "at_start": 0, "growth": 0,
                           "growth_pct": None},
        "overdue": 1,
        "dormant": 0,
        "months": [{"month": "2026-03", "end": "2026-03-15T12:00:00Z", "in": 0, "out": 0,
                    "mutual": 0, "total": 0, "two_way": 0, "two_way_share": None,
                    "active_network": 0, "active_change": None, "sent_response": empty,
                    "received_response": empty}],
    }  # fmt: skip


def _tier(name: str) -> dict[str, Any]:
    empty = {
        "messages": 0,
        "answered": 0,
        "rate": None,
        "median_response_seconds": None,
        "pending": 0,
    }
    return {"tier": name, "cadence_days": 30, "contacts": 1, "contacts_reached": 0,
            "interactions": 0, "per_contact_per_month": 0.0, "two_way": 0, "two_way_share": None,
            "sent_response": empty, "received_response": empty, "overdue": 1, "dormant": 0}  # fmt: skip


def _neglected(name: str) -> dict[str, Any]:
    return {"id": 1, "name": name, "email": "x@example.org", "tier": None, "cadence_days": 30,
            "last_interaction_at": "2025-12-01T00:00:00Z", "days_silent": 104,
            "interactions": 3, "overdue_days": 74}  # fmt: skip
