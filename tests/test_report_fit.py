"""The HTML report at 1280 px in headless Chromium: for the example data and for a mailbox
whose mail is all older than the period. No horizontal scroll anywhere (the page or a
table's section), whole-number ticks on the axes of counts, every bar above zero wide
enough to see, and for the old mailbox a hint that names --since. With
SYNCD_SCREENSHOTS=DIR the pages are saved there as PNG, to look at."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from syncd.report.charts import MIN_BAR
from tests.chromium import Chromium
from tests.util import run_cli

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 1280

FIT_JS = """
(() => {
  const root = document.documentElement;
  const wide = Array.from(document.querySelectorAll('section, .panel, table'))
    .filter(el => el.scrollWidth > el.clientWidth + 1)
    .map(el => (el.querySelector('h2') || el).textContent.slice(0, 40));
  return {scroll: root.scrollWidth, client: root.clientWidth, wide: wide};
})()
"""

TICKS_JS = """
(() => Array.from(document.querySelectorAll('.panel')).map(panel => ({
  id: panel.id,
  ticks: Array.from(panel.querySelectorAll('text.tick')).map(t => t.textContent),
  bars: Array.from(panel.querySelectorAll('rect.mark')).map(r => r.getBBox().width),
})))()
"""

COUNT_PANELS = ("chart-interactions", "chart-active", "chart-overdue")


def _report(tmp_path: Path, now: str) -> tuple[Path, str]:
    demo = tmp_path / "demo"
    shutil.copytree(ROOT / "examples", demo / "examples")
    shutil.copy(ROOT / "config.example.toml", demo / "config.example.toml")
    cfg = str(demo / "config.example.toml")
    env = {"SYNCD_STATE_DIR": str(tmp_path / "state"), "SYNCD_NOW": now}
    run_cli("--config", cfg, "sync", "--json", env=env, check=True)
    page = tmp_path / "report.html"
    proc = run_cli("--config", cfg, "report", "--html", str(page), env=env, check=True)
    return page, proc.stderr


def _check(chromium: Chromium, page: Path, name: str) -> list[dict[str, object]]:
    chromium.open(page.as_uri())
    try:
        chromium.set_width(WIDTH)
        fit = chromium.evaluate(FIT_JS)
        panels = chromium.evaluate(TICKS_JS)
        shots = os.environ.get("SYNCD_SCREENSHOTS")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            (Path(shots) / f"{name}-{WIDTH}.png").write_bytes(chromium.screenshot())
    finally:
        chromium.close_page()
    assert fit["scroll"] <= fit["client"], fit
    assert fit["wide"] == [], fit
    return panels  # type: ignore[no-any-return]


def _count_ticks_are_whole(panels: list[dict[str, object]]) -> None:
    seen = 0
    for panel in panels:
        if any(str(panel["id"]).startswith(p) for p in COUNT_PANELS):
            for tick in panel["ticks"]:  # type: ignore[attr-defined]
                if re.fullmatch(r"[\d,.]+", tick):
                    seen += 1
                    assert re.fullmatch(r"[\d,]+", tick), (panel["id"], tick)
    assert seen, panels


@pytest.mark.integration
def test_the_example_report_fits_1280_px(chromium: Chromium, tmp_path: Path) -> None:
    page, stderr = _report(tmp_path, "2026-11-25T12:00:00Z")
    assert "try --since" not in stderr
    panels = _check(chromium, page, "example")
    _count_ticks_are_whole(panels)
    bars = [w for p in panels for w in p["bars"]]  # type: ignore[attr-defined]
    assert bars and all(w == 0 or w >= MIN_BAR - 0.5 for w in bars), bars


@pytest.mark.integration
def test_an_old_mailbox_gets_a_hint_and_a_page_that_fits(
    chromium: Chromium, tmp_path: Path
) -> None:
    page, stderr = _report(tmp_path, "2028-06-01T12:00:00Z")
    hint = [line for line in stderr.splitlines() if "try --since" in line]
    assert len(hint) == 1 and hint[0].startswith("syncd: hint: no interactions between")
    since = re.search(r"--since (\d{4}-\d\d-\d\d)", hint[0])
    assert since is not None
    _check(chromium, page, "old-mailbox")
    assert f"try --since {since.group(1)}" in page.read_text()  # on the page too
