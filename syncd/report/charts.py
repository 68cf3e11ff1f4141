"""Small inline SVG charts for the HTML report: lines, stacked, grouped and horizontal bars.

Each function returns one `<svg>` element as `markupsafe.Markup`, ready to put into a
Jinja2 template with autoescaping on. Every piece of text that comes from data (labels,
series names, tooltips) goes through `markupsafe.escape`; numbers are formatted here. The
charts need no script and no network: hover tooltips are SVG `<title>` elements.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

W, H = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 34, 44
Fmt = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: str


MIN_BAR = 6.0  # px: the narrowest bar drawn for a value above zero


def plain(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def percent(v: float) -> str:
    return f"{100 * v:.0f}%"


def nice_max(top: float, ticks: int = 4, whole: bool = False) -> tuple[float, float]:
    """A round axis maximum at or above `top`, and the step between its ticks. With `whole`
    (counts) every tick is a whole number: a step of at least 1."""
    if top <= 0:
        if whole:
            return 1.0, 1.0
        return 1.0, 0.25 if ticks == 4 else 1.0 / ticks
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    steps: tuple[float, ...] = (1, 2, 2.5, 5, 10)
    if whole and power <= 1:
        power, steps = 1, (1, 2, 5, 10)
    step = next(m * power for m in steps if m * power >= raw)
    return step * math.ceil(top / step - 1e-9), step


def _svg(title: str, body: list[str], height: int = H) -> Markup:
    t = escape(title)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {W} {height}" role="img" aria-label="{t}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{t}</title>{"".join(body)}</svg>'
    )


def _legend(series: Sequence[Series]) -> list[str]:
    out, x = [], LEFT
    for s in series:
        out.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{s.color}"/>')
        out.append(f'<text x="{x + 16}" y="18" class="legend">{escape(s.name)}</text>')
        x += 24 + 7 * len(s.name)
    return out


def _y_axis(y_max: float, step: float, fmt: Fmt) -> list[str]:
    out = []
    plot_h = H - TOP - BOTTOM
    n = round(y_max / step)
    for i in range(n + 1):
        v = step * i
        y = H - BOTTOM - plot_h * v / y_max
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(fmt(v))}</text>"
        )
    return out


def _x_labels(labels: Sequence[str], centre: Callable[[int], float]) -> list[str]:
    # As many labels as fit side by side at the tick font (about 7.5 px a character).
    longest = max((len(label) for label in labels), default=1)
    fit = max(1, int((W - LEFT - RIGHT) // (longest * 7.5 + 10)))
    every = max(1, math.ceil(len(labels) / fit))
    return [
        f'<text x="{centre(i):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle" class="tick">'
        f"{escape(label)}</text>"
        for i, label in enumerate(labels)
        if i % every == 0
    ]


def _y(v: float, y_max: float) -> float:
    return H - BOTTOM - (H - TOP - BOTTOM) * v / y_max


def line_chart(
    title: str, labels: Sequence[str], series: Sequence[Series], fmt: Fmt = plain
) -> Markup:
    """One line per series over the labels; a missing value breaks the line."""
    top = max((v for s in series for v in s.values if v is not None), default=0.0)
    y_max, step = nice_max(top, whole=fmt is plain)
    n = max(len(labels), 1)
    band = (W - LEFT - RIGHT) / n

    def x(i: int) -> float:
        return LEFT + band * (i + 0.5)

    body = _legend(series) + _y_axis(y_max, step, fmt) + _x_labels(labels, x)
    for s in series:
        d, pen = [], "M"
        for i, v in enumerate(s.values):
            if v is None:
                pen = "M"
                continue
            d.append(f"{pen}{x(i):.1f},{_y(v, y_max):.1f}")
            pen = "L"
        if d:
            path = " ".join(d)
            body.append(
                f'<path class="mark" d="{path}" fill="none" stroke="{s.color}" stroke-width="2.5"/>'
            )
        for i, v in enumerate(s.values):
            if v is not None:
                tip = escape(f"{labels[i]}: {s.name} {fmt(v)}")
                body.append(
                    f'<circle class="mark" cx="{x(i):.1f}" cy="{_y(v, y_max):.1f}" r="3.5"'
                    f' fill="{s.color}">'
                    f"<title>{tip}</title></circle>"
                )
    return _svg(title, body)


def stacked_bars(
    title: str, labels: Sequence[str], series: Sequence[Series], fmt: Fmt = plain
) -> Markup:
    """One bar per label, the series stacked from the bottom in order."""
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    y_max, step = nice_max(max(totals, default=0.0), whole=fmt is plain)
    n = max(len(labels), 1)
    band = (W - LEFT - RIGHT) / n
    width = band * 0.7

    def x(i: int) -> float:
        return LEFT + band * (i + 0.5)

    body = _legend(series) + _y_axis(y_max, step, fmt) + _x_labels(labels, x)
    for i, label in enumerate(labels):
        base = 0.0
        for s in series:
            v = s.values[i] or 0
            if v <= 0:
                continue
            y0, y1 = _y(base, y_max), _y(base + v, y_max)
            tip = escape(f"{label}: {s.name} {fmt(v)}")
            body.append(
                f'<rect class="mark" x="{x(i) - width / 2:.1f}" y="{y1:.1f}" width="{width:.1f}"'
                f' height="{y0 - y1:.1f}" fill="{s.color}"><title>{tip}</title></rect>'
            )
            base += v
    return _svg(title, body)


def grouped_bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Fmt = plain,
    y_max: float | None = None,
) -> Markup:
    """Side by side bars per label, one per series; a missing value leaves a gap."""
    top = max((v for s in series for v in s.values if v is not None), default=0.0)
    if y_max is None:
        y_max, step = nice_max(top, whole=fmt is plain)
    else:
        step = y_max / 4
    n = max(len(labels), 1)
    band = (W - LEFT - RIGHT) / n
    width = band * 0.8 / max(len(series), 1)

    def x(i: int) -> float:
        return LEFT + band * (i + 0.5)

    body = _legend(series) + _y_axis(y_max, step, fmt) + _x_labels(labels, x)
    for i, label in enumerate(labels):
        left = x(i) - width * len(series) / 2
        for k, s in enumerate(series):
            v = s.values[i]
            if v is None:
                continue
            y = _y(v, y_max)
            tip = escape(f"{label}: {s.name} {fmt(v)}")
            body.append(
                f'<rect class="mark" x="{left + k * width:.1f}" y="{y:.1f}"'
                f' width="{width * 0.9:.1f}" height="{H - BOTTOM - y:.1f}" fill="{s.color}">'
                f"<title>{tip}</title></rect>"
            )
    return _svg(title, body)


def hbars(title: str, labels: Sequence[str], series: Sequence[Series], fmt: Fmt = plain) -> Markup:
    """Horizontal bars, one row per label, the series side by side within the row."""
    rows = max(len(labels), 1)
    row_h = 22 + 16 * max(len(series), 1)  # room for each bar's figure at the tick font
    height = TOP + rows * row_h + 16
    name_w = 120
    top = max((v for s in series for v in s.values if v is not None), default=0.0)
    x_max, _ = nice_max(top)
    plot_w = W - name_w - RIGHT - 40
    bar_h = (row_h - 10) / max(len(series), 1)
    body = _legend(series)
    for i, label in enumerate(labels):
        y = TOP + i * row_h
        body.append(
            f'<text x="{name_w - 8}" y="{y + row_h / 2 + 2:.1f}" text-anchor="end" class="tick">'
            f"{escape(label)}</text>"
        )
        for k, s in enumerate(series):
            v = s.values[i] or 0
            w = plot_w * v / x_max
            if v > 0:  # a small share still shows as a bar, not a hairline
                w = max(w, MIN_BAR)
            yy = y + 4 + k * bar_h
            tip = escape(f"{label}: {s.name} {fmt(v)}")
            body.append(
                f'<rect class="mark" x="{name_w}" y="{yy:.1f}" width="{w:.1f}"'
                f' height="{bar_h - 2:.1f}" fill="{s.color}"><title>{tip}</title></rect>'
                f'<text x="{name_w + w + 4:.1f}" y="{yy + bar_h - 4:.1f}" class="tick">'
                f"{escape(fmt(v))}</text>"
            )
    return _svg(title, body, height)
