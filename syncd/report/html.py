"""`syncd report --html FILE`: the report as one self-contained HTML page with SVG charts.

One file, no script, no network: the charts are inline SVG drawn by `syncd.report.charts`, the
style is inline, and a Content-Security-Policy forbids loading anything at all. The page
is rendered by Jinja2 with autoescaping, so names, addresses and tier names are escaped
wherever they appear; the charts escape their own text.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from syncd.report.charts import Series, grouped_bars, hbars, line_chart, percent, stacked_bars
from syncd.report.document import format_answered, format_duration, format_rate

IN, OUT, MET = "#2b6cb0", "#dd6b20", "#38a169"
OVERDUE, CONTACTS = "#c53030", "#a0aec0"

PANELS = [
    ("active", "Active network over time"),
    ("interactions", "Interactions per month by direction"),
    ("response", "Response rates"),
    ("overdue", "Overdue contacts by tier"),
]

_ENV = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)

TEMPLATE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Network report{% if owner %} of {{ owner }}{% endif %},
{{ doc.since[:10] }} to {{ doc.until[:10] }}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1a202c;
       margin: 0 auto; max-width: 1100px; padding: 24px; background: #f7fafc; }
h1 { font-size: 1.6em; margin: 0 0 4px; } h2 { font-size: 1.15em; margin: 0 0 8px; }
.sub { color: #4a5568; margin: 0 0 20px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 12px; }
.card, .panel { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px;
                padding: 12px 14px; }
.card .v { font-size: 1.6em; font-weight: 600; } .card .k { color: #4a5568; font-size: .9em; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px;
         margin: 16px 0; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: #e2e8f0; stroke-width: 1; }
svg .tick, svg .legend { font: 13px system-ui, sans-serif; fill: #4a5568; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: .92em; }
th, td { padding: 5px 8px; border-bottom: 1px solid #e2e8f0; text-align: right;
         white-space: nowrap; }
th:first-child, td:first-child, th.t, td.t { text-align: left; }
th { background: #edf2f7; white-space: normal; vertical-align: bottom; }
section { margin: 20px 0; overflow-x: auto; }
.note { color: #4a5568; font-size: .88em; }
.hint { background: #fefcbf; border: 1px solid #ecc94b; border-radius: 6px; padding: 8px 12px; }
</style>
</head>
<body>
<h1>Network report{% if owner %} of {{ owner }}{% endif %}</h1>
<p class="sub">{{ doc.since[:10] }} to {{ doc.until[:10] }} (UTC). A message counts as answered
when the reply came within {{ s.reply_within_days }} days; a contact is active with a two-way
interaction in the last {{ s.active_window_days }} days.</p>

{% if hint %}<p class="hint">{{ hint }}</p>{% endif %}
<div class="cards">
{% for label, value in cards %}
  <div class="card"><div class="v">{{ value }}</div><div class="k">{{ label }}</div></div>
{% endfor %}
</div>

<div class="grid2">
{% for id, heading in panels %}
  <div class="panel" id="chart-{{ id }}"><h2>{{ heading }}</h2>{{ charts[id] }}</div>
{% endfor %}
</div>

<section>
<h2>Month by month</h2>
<table>
<tr><th>month</th><th>in</th><th>out</th><th>meetings</th><th>total</th><th>two-way</th>
<th>active</th><th>change</th><th>yours answered</th><th>theirs answered</th></tr>
{% for m in doc.months %}
<tr><td>{{ m.month }}</td><td>{{ m.in }}</td><td>{{ m.out }}</td><td>{{ m.mutual }}</td>
<td>{{ m.total }}</td><td>{{ pct(m.two_way_share) }}</td><td>{{ m.active_network }}</td>
<td>{{ "" if m.active_change is none else "%+d" % m.active_change }}</td>
<td>{{ answered(m.sent_response) }}</td><td>{{ answered(m.received_response) }}</td></tr>
{% endfor %}
</table>
</section>

<section>
<h2>Per tier</h2>
<table>
<tr><th>tier</th><th>cadence</th><th>contacts</th><th>reached</th><th>interactions</th>
<th>per contact / month</th><th>two-way</th><th>yours answered</th><th>median reply</th>
<th>theirs answered</th><th>median reply</th><th>overdue</th><th>dormant</th></tr>
{% for t in doc.tiers %}
<tr><td>{{ t.tier or "(none)" }}</td>
<td>{{ "%d d" % t.cadence_days if t.cadence_days else "" }}</td>
<td>{{ t.contacts }}</td><td>{{ t.contacts_reached }}</td><td>{{ t.interactions }}</td>
<td>{{ "–" if t.per_contact_per_month is none else "%.2f" % t.per_contact_per_month }}</td>
<td>{{ pct(t.two_way_share) }}</td><td>{{ answered(t.sent_response) }}</td>
<td>{{ duration(t.sent_response.median_response_seconds) }}</td>
<td>{{ answered(t.received_response) }}</td>
<td>{{ duration(t.received_response.median_response_seconds) }}</td>
<td>{{ t.overdue }}</td><td>{{ t.dormant }}</td></tr>
{% endfor %}
</table>
</section>

<section>
<h2>Most neglected relationships</h2>
{% if doc.neglected %}
<table>
<tr><th>name</th><th class="t">email</th><th class="t">tier</th><th>last interaction</th>
<th>silent</th><th>overdue by</th><th>interactions</th></tr>
{% for n in doc.neglected %}
<tr><td>{{ n.name or "" }}</td><td class="t">{{ n.email or "" }}</td>
<td class="t">{{ n.tier or "" }}</td>
<td>{{ (n.last_interaction_at or "")[:10] }}</td><td>{{ n.days_silent }} d</td>
<td>{{ "" if n.overdue_days is none else "%d d" % n.overdue_days }}</td>
<td>{{ n.interactions }}</td></tr>
{% endfor %}
</table>
{% else %}
<p class="note">None: every two-way relationship is within its cadence.</p>
{% endif %}
</section>

<p class="note">Generated by syncd at {{ doc.generated_at }}. Interactions are real human mail
and meetings that took place; two-way means a meeting or a thread in which both sides wrote.
Months are UTC months. The definitions are in syncd's docs/report.md.</p>
</body>
</html>
"""


def charts(doc: dict[str, Any]) -> dict[str, Markup]:
    months = doc["months"]
    labels = [m["month"] for m in months]
    tiers = doc["tiers"]
    days = doc["settings"]["reply_within_days"]
    return {
        "active": line_chart(
            "Contacts with a two-way interaction in the 90 days up to each month's end",
            labels,
            [Series("active contacts", [m["active_network"] for m in months], MET)],
        ),
        "interactions": stacked_bars(
            "Interactions per month: received, sent, meetings",
            labels,
            [
                Series("received", [m["in"] for m in months], IN),
                Series("sent", [m["out"] for m in months], OUT),
                Series("meetings", [m["mutual"] for m in months], MET),
            ],
        ),
        "response": grouped_bars(
            f"Share of messages answered within {days} days, by the month they were sent",
            labels,
            [
                Series("yours answered", [m["sent_response"]["rate"] for m in months], OUT),
                Series("theirs answered", [m["received_response"]["rate"] for m in months], IN),
            ],
            fmt=percent,
            y_max=1.0,
        ),
        "overdue": hbars(
            "Overdue contacts and all contacts, by tier",
            [t["tier"] or "(none)" for t in tiers],
            [
                Series("overdue", [t["overdue"] for t in tiers], OVERDUE),
                Series("contacts", [t["contacts"] for t in tiers], CONTACTS),
            ],
        ),
    }


def render_html(doc: dict[str, Any], owner: str | None = None, hint: str | None = None) -> str:
    """The whole page for a `syncd.report.document.build_report` document; `hint` (a period with
    nothing in it, `syncd.report.hint`) is shown under the heading."""
    i, r, a = doc["interactions"], doc["response"], doc["active_network"]
    growth = f"{a['growth']:+d}" + (f" ({a['growth_pct']:+.0f}%)" if a["growth_pct"] else "")
    cards = [
        ("interactions", f"{i['total']:,}"),
        ("per week", f"{i['per_week']:.1f}"),
        ("two-way share", format_rate(i["two_way_share"])),
        ("your mail answered", format_answered(r["sent"])),
        ("their mail you answered", format_answered(r["received"])),
        ("median time to your reply", format_duration(r["received"]["median_response_seconds"])),
        ("active network now", f"{a['current']:,}"),
        ("active network growth", growth),
        ("overdue contacts", f"{doc['overdue']:,}"),
        ("dormant contacts", f"{doc['dormant']:,}"),
    ]
    return _ENV.from_string(TEMPLATE).render(
        doc=doc,
        s=doc["settings"],
        owner=owner,
        hint=hint,
        cards=cards,
        charts=charts(doc),
        panels=PANELS,
        pct=format_rate,
        answered=format_answered,
        duration=format_duration,
    )
