#!/usr/bin/env python3
"""Reproducible ingest benchmark: how fast, and in how much memory, `syncd sync` reads mail.

The script writes a synthetic Maildir of N messages (INBOX and Sent, realistic header
sections, threads, newsletters and notifications, bodies of 0.5-20 KB so that reading only
the header section matters), a config for one `maildir` account on it, and then measures,
each in its own child process:

  1. `syncd --config CFG init`
  2. `syncd --config CFG sync`   the first, full ingest: wall time, messages/s, peak RSS
  3. `syncd --config CFG sync`   again on the unchanged tree: should cost almost nothing

By default it does the same at N=10,000 (`--compare`) and prints the figures side by side,
so that memory growing with N (it should not, much) is visible at a glance.

The data depend only on --n and --seed (no clock, no hash randomisation), so two runs with
the same flags ingest the same bytes. Only the standard library is used; `syncd` is run as
a command (the one next to this Python by default, see --syncd).

Notes on the figures: the first sync reads files the generator has just written, so the
page cache is warm; peak RSS is `ru_maxrss` of the `syncd` child alone, read by a small
wrapper process that does nothing but start and wait for it.

Examples:
  python bench/ingest.py                       # 100,000 and 10,000 messages, a table
  python bench/ingest.py --n 20000 --no-compare --json
  python bench/ingest.py --generate-only --n 5000 --dir /tmp/mail5k
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

GENERATOR_VERSION = 2
MARKER = ".bench-maildir.json"  # a dot file: Maildir readers skip it

OWNER_NAME = "Alex Morgan"
OWNER_ADDR = "alex@example.com"
OWNER_ALIAS = "alex.morgan@example.com"
OWNER_TZ = "Europe/Berlin"
OWN_DOMAIN = "example.com"

END = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)

NOISE_SHARE = 0.30  # newsletters, marketing and notifications: single messages
SENT_SHARE_OF_HUMAN = 0.36  # so that about 25% of all messages are in Sent
THREAD_LENGTH_WEIGHTS = (30, 22, 16, 11, 8, 6, 4, 3)  # threads of 1..8 messages
BODY_MIN, BODY_MAX = 512, 20 * 1024

# --- the wrapper that runs and measures one child ------------------------------------------

_WRAPPER = r"""
import json, resource, subprocess, sys, time
spec = json.loads(sys.argv[1])
with open(spec["stdout"], "ab") as out, open(spec["stderr"], "ab") as err:
    t0 = time.perf_counter()
    rc = subprocess.call(spec["argv"], stdout=out, stderr=err, env=spec["env"])
    wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
rss = ru.ru_maxrss // 1024 if sys.platform == "darwin" else ru.ru_maxrss
print(json.dumps({"rc": rc, "wall_s": wall, "maxrss_kb": rss,
                  "user_s": ru.ru_utime, "sys_s": ru.ru_stime}))
"""


@dataclass
class Measure:
    rc: int
    wall_s: float
    maxrss_kb: int
    user_s: float
    sys_s: float


def measure(argv: list[str], env: dict[str, str], log_dir: Path, label: str) -> Measure:
    """Run `argv` under the wrapper; its stdout/stderr go to log_dir/<label>.{out,err}."""
    spec = {
        "argv": argv,
        "env": env,
        "stdout": str(log_dir / f"{label}.out"),
        "stderr": str(log_dir / f"{label}.err"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"the measuring wrapper failed: {proc.stderr.strip()[-2000:]}")
    return Measure(**json.loads(proc.stdout))


class BenchError(Exception):
    pass


# --- synthetic data ------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST = (
    *_words(
        "Anna Ben Carla David Elena Felix Grace Hugo Ines Jakob Kira Liam Maya Noah Olga Paul "
        "Quinn Rosa Samuel Tara Umar Vera Walter Xenia Yusuf Zoe Adam Bianca Chris Daria Emil "
        "Fatima George Hanna Ivan Julia Kofi Laura Mateo Nina Oscar Priya Rafael Sofia Tomas "
        "Ulla Viktor Wen Yara Aiko Bruno Chiara Dmitri Esther Farid Gita Henrik Isabel Jonas "
        "Kai Lucia Marek Nadia Omar Pia Ravi Selin Timo Uwe Valentina"
    ),
    *("Jürgen", "Zoë", "Łukasz", "Søren", "Ana María", "François", "Ömer", "Chloé"),
)
LAST = (
    *_words(
        "Smith Müller Rossi Dubois Novak Kowalski Jensen Silva Haddad Tanaka Nguyen Okafor "
        "Schmidt Bianchi Martin Horvat Nowak Hansen Santos Aziz Sato Tran Mensah Weber Romano "
        "Bernard Kovac Wiśniewska Larsen Costa Nasser Suzuki Pham Boateng Fischer Greco Petit "
        "Varga Lewandowski Nielsen Pereira Khalil Kato Le Adeyemi Wagner Ricci Moreau Toth "
        "Zielinski Berg Ferreira Saleh Ito Vo Owusu Becker Marino Laurent Szabo Kaminski Lund "
        "Almeida Farouk Yamamoto Dang Asante Hoffmann Gallo Girard Kiss Mazur Dahl Rocha"
    ),
    *("García", "Öztürk", "Ångström", "Nuñez", "Dvořák"),
)
COMPANY = _words(
    "acme globex initech umbrella hooli vandelay soylent stark wayne wonka tyrell cyberdyne "
    "aperture blackmesa oscorp gringotts monarch duff paperstreet dunder prestige nakatomi "
    "massive contoso fabrikam northwind adventure tailspin woodgrove litware proseware "
    "lumen orbit vertex quantum harbor summit meridian beacon atlas kestrel juniper"
)
TZ_OFFSETS = (0, 0, 60, 60, 60, 60, 120, 120, -300, -300, -240, -420, -480, 330, 480, 540, 600)

TOPICS = (
    "Q{q} planning",
    "Contract renewal {y}",
    "Follow-up on our call",
    "Proposal for {co}",
    "Invoice {n}",
    "Quick question",
    "Intro: {name} <> {owner}",
    "Workshop next week",
    "Draft agenda",
    "Budget review",
    "Meeting notes {d}",
    "Onboarding plan",
    "Partnership idea",
    "Feedback on the pilot",
    "Hiring update",
    "Roadmap {y}",
    "Security questionnaire",
    "Travel to {city}",
    "Offsite logistics",
    "Data migration",
    "Pricing for the EU region",
    "Reference call",
    "Webinar in {month}",
    "Steering committee",
    "Renewal terms",
    "Case study draft",
    "Integration status",
    "Thank you!",
)
TOPICS_UTF8 = (
    "Angebot für Q{q} {y}",
    "Réunion de suivi",
    "Presupuesto {y} – revisión",
    "Nächste Schritte",
    "Propuesta para {co}",
    "Über das Projekt",
    "Café à {city}?",
)
CITIES = _words("Berlin Paris Madrid Lisbon Vienna Zurich London Dublin Warsaw Prague Oslo")
MONTHS = _words("January February March April May June July August September October")

NEWSLETTERS = [  # (display name, address, domain)
    (f"{name} Weekly", f"newsletter@{slug}.example", f"{slug}.example")
    for name, slug in [
        ("Ledger", "ledger"),
        ("Fintech", "fintechdaily"),
        ("Ops", "opsnotes"),
        ("Product", "productletter"),
        ("Growth", "growthmemo"),
        ("Data", "databrief"),
        ("Cloud", "cloudwire"),
        ("Design", "designdigest"),
        ("Founder", "foundernotes"),
        ("Security", "secbulletin"),
        ("Policy", "policywatch"),
        ("Markets", "marketmorning"),
    ]
]
MARKETING = [
    (name, f"offers@mail.{slug}.example", f"mail.{slug}.example")
    for name, slug in [
        ("Cloudbox", "cloudbox"),
        ("Shopwise", "shopwise"),
        ("Flyhigh Airlines", "flyhigh"),
        ("Deskly", "deskly"),
        ("Notely", "notely"),
        ("Travelio", "travelio"),
    ]
]
NOTIFIERS = [
    (name, addr, addr.split("@")[1])
    for name, addr in [
        ("Forge", "notifications@forge.example"),
        ("Cloudbox Billing", "no-reply@billing.cloudbox.example"),
        ("Calendar", "calendar-notification@calendar.example"),
        ("Tickets", "no-reply@helpdesk.example"),
        ("Bank", "noreply@bank.example"),
        ("CI", "ci-bot@builds.example"),
        ("Docs", "comments-noreply@docs.example"),
    ]
]
NEWS_TOPICS = (
    "what changes in payments",
    "five habits worth stealing",
    "the state of open banking",
    "tools we tried this month",
    "reading list",
    "interview with a CFO",
    "the quarter in charts",
    "what we got wrong",
)
NOTICES = ("New comment", "Build failed", "Invoice ready", "Reminder", "Review requested")

WORDS = _words(
    "the of and to in is for on that with as we this be are by at from our it your can "
    "will have please next week meeting project update plan team review thanks would like "
    "send let know time call proposal budget contract client data report numbers quarter "
    "draft agenda notes attached shared folder timeline training rollout support question "
    "could should also about after before since until today tomorrow monday friday deal "
    "price offer sign scope risk owner action items follow up decision approval"
)


@dataclass(frozen=True)
class Person:
    name_header: str  # display name as it appears in a header (RFC 2047 when not ASCII)
    addr: str
    domain: str
    offset_min: int


def _encode_name(name: str) -> str:
    if name.isascii():
        return f'"{name}"' if "," in name else name
    return Header(name, "utf-8").encode()


def _encode_text(text: str) -> str:
    return text if text.isascii() else Header(text, "utf-8").encode()


def _ascii_slug(text: str) -> str:
    text = text.lower().translate(_NON_DECOMPOSING)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ch.isascii() and ch.isalnum()) or "x"


_NON_DECOMPOSING = str.maketrans({"ß": "ss", "ø": "o", "ł": "l", "æ": "ae", "đ": "d"})


def make_people(rng: random.Random, count: int) -> list[Person]:
    """`count` distinct correspondents; about 5% are colleagues at the owner's domain."""
    people: list[Person] = []
    seen: set[str] = {OWNER_ADDR, OWNER_ALIAS}
    while len(people) < count:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if rng.random() < 0.05:
            domain = OWN_DOMAIN
        elif rng.random() < 0.15:
            domain = rng.choice(("example.org", "example.net"))
        else:
            domain = f"{rng.choice(COMPANY)}.example"
        style = rng.random()
        f, la = _ascii_slug(first), _ascii_slug(last)
        local = f"{f}.{la}" if style < 0.6 else (f"{f[0]}{la}" if style < 0.85 else f)
        addr = f"{local}@{domain}"
        if addr in seen:
            continue
        seen.add(addr)
        display = f"{last}, {first}" if rng.random() < 0.05 else f"{first} {last}"
        people.append(Person(_encode_name(display), addr, domain, rng.choice(TZ_OFFSETS)))
    return people


def text_pool(rng: random.Random, size: int = 256 * 1024) -> bytes:
    """ASCII prose-like text, wrapped at about 72 columns, to slice bodies from."""
    lines: list[str] = []
    total = 0
    while total < size:
        line_words: list[str] = []
        length = 0
        while length < 68:
            w = rng.choice(WORDS)
            line_words.append(w)
            length += len(w) + 1
        line = " ".join(line_words)
        if rng.random() < 0.12:
            line += "\n"
        lines.append(line)
        total += len(line) + 1
    return ("\n".join(lines) + "\n").encode("ascii")


@dataclass
class GenStats:
    messages: int = 0
    bytes: int = 0
    sent: int = 0
    noise: int = 0
    threads: int = 0
    folders: dict[str, int] = field(default_factory=dict)


class MaildirWriter:
    """Writes files straight into <root>/<folder>/{cur,new}; no mailbox module, no tmp/."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.seed = seed
        self.seq = 0
        self.stats = GenStats()
        for folder in ("INBOX", "Sent"):
            for sub in ("cur", "new", "tmp"):
                (root / folder / sub).mkdir(parents=True, exist_ok=True)

    def write(self, folder: str, delivered: datetime, data: bytes, *, unread: bool) -> None:
        self.seq += 1
        stamp = int(delivered.timestamp())
        name = f"{stamp}.M{self.seq}P{self.seed}.bench"
        path = (
            self.root / folder / ("new" if unread else "cur") / (name if unread else name + ":2,S")
        )
        with open(path, "wb") as fh:
            fh.write(data)
        st = self.stats
        st.messages += 1
        st.bytes += len(data)
        st.folders[folder] = st.folders.get(folder, 0) + 1


class Generator:
    def __init__(self, n: int, seed: int, correspondents: int) -> None:
        self.n = n
        self.rng = random.Random(seed)
        self.people = make_people(self.rng, correspondents)
        # Zipf-like popularity: a few people write often, most rarely.
        weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(self.people))]
        acc = 0.0
        self.cum = []
        for w in weights:
            acc += w
            self.cum.append(acc)
        self.pool = text_pool(self.rng)
        self.owner_zone = ZoneInfo(OWNER_TZ)
        self.zones = {m: timezone(timedelta(minutes=m)) for m in set(TZ_OFFSETS)}
        self.log_lo, self.log_hi = math.log(BODY_MIN), math.log(BODY_MAX)

    # small helpers
    def person(self) -> Person:
        return self.rng.choices(self.people, cum_weights=self.cum, k=1)[0]

    def when(self) -> datetime:
        return END - timedelta(seconds=self.rng.random() * SPAN.total_seconds())

    def body(self) -> bytes:
        size = int(math.exp(self.rng.uniform(self.log_lo, self.log_hi)))
        start = self.rng.randrange(0, len(self.pool) - 2 * size - 200)
        start = self.pool.index(b"\n", start) + 1  # begin at a line
        return self.pool[start : start + size]

    def msgid(self, domain: str) -> str:
        return f"<{self.rng.getrandbits(64):016x}.{self.rng.getrandbits(20):05x}@{domain}>"

    def date(self, dt: datetime, offset_min: int | None) -> str:
        zone = self.owner_zone if offset_min is None else self.zones[offset_min]
        return format_datetime(dt.astimezone(zone))

    def received(self, sender: str, to: str, dt: datetime) -> list[str]:
        sender_domain = sender.rsplit("@", 1)[1]
        ip = f"198.51.100.{(hash_str(sender_domain) % 250) + 1}"
        return [
            f"Return-Path: <{sender}>",
            f"Delivered-To: {to}",
            f"Received: from mail.{sender_domain} (mail.{sender_domain} [{ip}])\n"
            f"\tby mx.{OWN_DOMAIN} (Postfix) with ESMTPS id {self.rng.getrandbits(40):010X}\n"
            f"\tfor <{to}>; {self.date(dt, None)}",
        ]

    def subject(self, other: Person) -> str:
        rng = self.rng
        template = rng.choice(TOPICS_UTF8) if rng.random() < 0.06 else rng.choice(TOPICS)
        return template.format(
            q=rng.randint(1, 4),
            y=rng.choice((2024, 2025, 2026, 2027)),
            co=other.domain.split(".")[0].capitalize(),
            n=rng.randint(1000, 9999),
            name=other.name_header if other.name_header.isascii() else "a friend",
            owner=OWNER_NAME,
            d=f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.",
            city=rng.choice(CITIES),
            month=rng.choice(MONTHS),
        )

    def content(self, lines: list[str]) -> bytes:
        """Append MIME headers for a plain or multipart/alternative body; return the bytes."""
        body = self.body()
        if self.rng.random() < 0.2:
            boundary = f"=_b{self.rng.getrandbits(48):012x}"
            lines += [
                "MIME-Version: 1.0",
                f'Content-Type: multipart/alternative; boundary="{boundary}"',
            ]
            head = "\n".join(lines).encode("utf-8")
            half = body[: len(body) // 2]
            parts = (
                (
                    f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n"
                    "Content-Transfer-Encoding: 8bit\n\n"
                ).encode()
                + half
                + (
                    f"\n--{boundary}\nContent-Type: text/html; charset=utf-8\n"
                    "Content-Transfer-Encoding: 8bit\n\n<html><body><p>"
                ).encode()
                + half
                + f"</p></body></html>\n--{boundary}--\n".encode()
            )
            return head + b"\n\n" + parts
        lines += [
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ]
        return "\n".join(lines).encode("utf-8") + b"\n\n" + body

    # message kinds
    def noise(self, w: MaildirWriter) -> None:
        rng = self.rng
        dt = self.when()
        r = rng.random()
        if r < 0.5:
            name, addr, dom = rng.choice(NEWSLETTERS)
            subject = f"{name} #{rng.randint(1, 400)}: {rng.choice(NEWS_TOPICS)}"
            extra = [
                f"List-Id: {name} <list.{dom}>",
                f"List-Unsubscribe: <https://{dom}/unsubscribe?u={rng.getrandbits(32):08x}>",
                "Precedence: bulk",
            ]
        elif r < 0.6:
            name, addr, dom = rng.choice(MARKETING)
            subject = f"{rng.randint(10, 60)}% off this week only"
            extra = [
                f"Feedback-ID: {rng.getrandbits(24):06x}:campaign:{dom.split('.')[1]}:esp",
                f"List-Unsubscribe: <https://{dom}/u/{rng.getrandbits(32):08x}>",
                "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            ]
        else:
            name, addr, dom = rng.choice(NOTIFIERS)
            subject = f"[{dom.split('.')[0]}] {rng.choice(NOTICES)} #{rng.randint(1, 9999)}"
            extra = ["Auto-Submitted: auto-generated"]
            if dom.startswith("forge."):
                reason = rng.choice(("mention", "review_requested", "subscribed"))
                extra.append(f"X-GitHub-Reason: {reason}")
        lines = self.received(f"bounce@{dom}", OWNER_ADDR, dt + timedelta(seconds=3))
        lines += [
            f"From: {name} <{addr}>",
            f"To: {OWNER_ADDR}",
            f"Subject: {subject}",
            f"Date: {self.date(dt, 0)}",
            f"Message-ID: {self.msgid(dom)}",
            *extra,
        ]
        data = self.content(lines)
        w.stats.noise += 1
        w.write("INBOX", dt + timedelta(seconds=3), data, unread=END - dt < timedelta(days=5))

    def thread(self, w: MaildirWriter, length: int) -> None:
        rng = self.rng
        other = self.person()
        cc = [self.person() for _ in range(rng.randint(1, 3))] if rng.random() < 0.2 else []
        cc = [p for p in cc if p.addr != other.addr]
        subject = self.subject(other)
        dt = self.when() - timedelta(days=length * 1.5)
        outbound = rng.random() < SENT_SHARE_OF_HUMAN
        refs: list[str] = []
        alias = rng.random() < 0.1
        owner_addr = OWNER_ALIAS if alias else OWNER_ADDR
        owner_hdr = f"{OWNER_NAME} <{owner_addr}>"
        other_hdr = f"{other.name_header} <{other.addr}>"
        w.stats.threads += 1
        for i in range(length):
            if dt > END:
                dt = END - timedelta(minutes=rng.randint(1, 600))
            subj = subject if i == 0 else "Re: " + subject
            domain = OWN_DOMAIN if outbound else other.domain
            mid = self.msgid(domain)
            if outbound:
                lines = [
                    f"From: {owner_hdr}",
                    f"To: {other_hdr}",
                ]
            else:
                lines = self.received(other.addr, owner_addr, dt + timedelta(seconds=5))
                lines += [f"From: {other_hdr}", f"To: {owner_hdr}"]
            if cc:
                lines.append("Cc: " + ",\n ".join(f"{p.name_header} <{p.addr}>" for p in cc))
            lines += [
                f"Subject: {_encode_text(subj)}",
                f"Date: {self.date(dt, None if outbound else other.offset_min)}",
                f"Message-ID: {mid}",
            ]
            if refs:
                lines.append(f"In-Reply-To: {refs[-1]}")
                lines.append("References: " + "\n ".join(refs[-10:]))
            data = self.content(lines)
            if outbound:
                w.stats.sent += 1
                w.write("Sent", dt, data, unread=False)
            else:
                recent = END - dt < timedelta(days=7)
                unread = recent and rng.random() < 0.5
                w.write("INBOX", dt + timedelta(seconds=5), data, unread=unread)
            refs.append(mid)
            dt += timedelta(minutes=5 + rng.expovariate(1 / (36 * 60)))
            # in → out with p=0.48, out → in with p=0.85: about 36% outbound
            outbound = rng.random() >= 0.85 if outbound else rng.random() < 0.48

    def run(self, root: Path) -> GenStats:
        w = MaildirWriter(root, self.rng.randrange(1, 1 << 16))
        lengths = list(range(1, len(THREAD_LENGTH_WEIGHTS) + 1))
        # A draw is a single noise message or a whole thread; pick the noise probability so
        # that noise makes up NOISE_SHARE of the *messages*.
        mean_len = sum(k * w for k, w in zip(lengths, THREAD_LENGTH_WEIGHTS, strict=True)) / sum(
            THREAD_LENGTH_WEIGHTS
        )
        p_noise = NOISE_SHARE * mean_len / (1 - NOISE_SHARE + NOISE_SHARE * mean_len)
        while w.stats.messages < self.n:
            left = self.n - w.stats.messages
            if self.rng.random() < p_noise:
                self.noise(w)
            else:
                length = self.rng.choices(lengths, weights=THREAD_LENGTH_WEIGHTS, k=1)[0]
                self.thread(w, min(length, left))
        return w.stats


def hash_str(s: str) -> int:
    """A stable string hash (Python's hash() is randomised per process)."""
    h = 2166136261
    for ch in s.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


def generate(maildir: Path, n: int, seed: int, correspondents: int) -> tuple[GenStats, float, bool]:
    """Write (or reuse) the Maildir; return its stats, the seconds spent, and whether reused."""
    marker = maildir / MARKER
    want = {"version": GENERATOR_VERSION, "n": n, "seed": seed, "correspondents": correspondents}
    if marker.exists():
        try:
            have = json.loads(marker.read_text())
        except (OSError, ValueError):
            have = {}
        if {k: have.get(k) for k in want} == want:
            return GenStats(**have["stats"]), 0.0, True
        raise BenchError(f"{maildir} holds a different benchmark Maildir; remove it first")
    if maildir.exists() and any(maildir.iterdir()):
        raise BenchError(f"{maildir} exists and is not empty; choose another --dir")
    t0 = time.perf_counter()
    stats = Generator(n, seed, correspondents).run(maildir)
    seconds = time.perf_counter() - t0
    marker.write_text(json.dumps({**want, "stats": asdict(stats)}, indent=1))
    return stats, seconds, False


# --- running syncd -------------------------------------------------------------------------


def find_syncd(explicit: str | None) -> str:
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "syncd"
    if beside.exists():
        return str(beside)
    found = shutil.which("syncd")
    if not found:
        raise BenchError("no `syncd` command found; install the project or pass --syncd PATH")
    return found


def write_config(run_dir: Path, maildir: Path) -> Path:
    state = run_dir / "state"
    cfg = run_dir / "syncd.toml"

    def q(value: str) -> str:
        return json.dumps(value)  # a JSON string is a valid TOML basic string

    cfg.write_text(
        "# written by bench/ingest.py\n"
        "[owner]\n"
        f"name = {q(OWNER_NAME)}\n"
        f"addresses = [{q(OWNER_ADDR)}, {q(OWNER_ALIAS)}]\n"
        f"timezone = {q(OWNER_TZ)}\n\n"
        "[store]\n"
        f"url = {q('sqlite:///' + str(state / 'syncd.db'))}\n\n"
        "[[accounts]]\n"
        'name = "bench"\n'
        'kind = "maildir"\n'
        f"path = {q(str(maildir))}\n",
        encoding="utf-8",
    )
    return cfg


@dataclass
class RunResult:
    n: int
    seed: int
    maildir: str
    messages: int
    sent: int
    noise: int
    threads: int
    maildir_bytes: int
    generate_s: float
    reused: bool
    init_s: float | None = None
    sync_s: float | None = None
    messages_per_s: float | None = None
    sync_peak_rss_kb: int | None = None
    sync_cpu_s: float | None = None
    resync_s: float | None = None
    resync_peak_rss_kb: int | None = None


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def run_once(
    base: Path, n: int, seed: int, correspondents: int, syncd: str | None, used: list[Path]
) -> RunResult:
    run_dir = base / f"n{n}-seed{seed}"
    used.append(run_dir)
    maildir = run_dir / "maildir"
    maildir.mkdir(parents=True, exist_ok=True)
    log(f"N={n}: generating the Maildir in {maildir}")
    stats, gen_s, reused = generate(maildir, n, seed, correspondents)
    log(
        f"N={n}: {'reused' if reused else 'wrote'} {stats.messages} messages,"
        f" {stats.bytes / 1e6:.1f} MB" + ("" if reused else f" in {gen_s:.1f} s")
    )
    result = RunResult(
        n=n,
        seed=seed,
        maildir=str(maildir),
        messages=stats.messages,
        sent=stats.sent,
        noise=stats.noise,
        threads=stats.threads,
        maildir_bytes=stats.bytes,
        generate_s=round(gen_s, 3),
        reused=reused,
    )
    if syncd is None:
        return result

    state = run_dir / "state"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir()
    logs = run_dir / "logs"
    logs.mkdir(exist_ok=True)
    cfg = write_config(run_dir, maildir)
    env = {k: v for k, v in os.environ.items() if k != "SYNCD_CONFIG"}
    env["SYNCD_STATE_DIR"] = str(state)
    base_argv = [syncd, "--config", str(cfg)]

    def step(label: str, argv: list[str]) -> Measure:
        m = measure(base_argv + argv, env, logs, label)
        if m.rc != 0:
            err = (logs / f"{label}.err").read_text(errors="replace").strip()
            tail = "\n".join(err.splitlines()[-15:])
            raise BenchError(
                f"`syncd {' '.join(argv)}` exited with {m.rc} (N={n}); stderr:\n{tail}"
            )
        return m

    log(f"N={n}: syncd init")
    result.init_s = round(step("init", ["init"]).wall_s, 3)
    log(f"N={n}: syncd sync (first, full ingest)")
    first = step("sync1", ["sync"])
    result.sync_s = round(first.wall_s, 3)
    result.messages_per_s = round(stats.messages / first.wall_s, 1) if first.wall_s else None
    result.sync_peak_rss_kb = first.maxrss_kb
    result.sync_cpu_s = round(first.user_s + first.sys_s, 3)
    log(f"N={n}: first sync {first.wall_s:.1f} s, peak RSS {first.maxrss_kb / 1024:.0f} MB")
    log(f"N={n}: syncd sync (second, unchanged tree)")
    second = step("sync2", ["sync"])
    result.resync_s = round(second.wall_s, 3)
    result.resync_peak_rss_kb = second.maxrss_kb
    return result


# --- output --------------------------------------------------------------------------------


def _mb_kb(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:,.1f} MB"


def _secs(s: float | None) -> str:
    return "-" if s is None else f"{s:,.2f} s"


def table(results: list[RunResult], syncd: str | None) -> str:
    rows: list[tuple[str, list[str]]] = [
        (
            "messages (sent / noise)",
            [f"{r.messages:,} ({r.sent:,} / {r.noise:,})" for r in results],
        ),
        ("Maildir size", [f"{r.maildir_bytes / 1e6:,.1f} MB" for r in results]),
        ("generate", ["reused" if r.reused else _secs(r.generate_s) for r in results]),
    ]
    if syncd is not None:
        rows += [
            ("syncd init", [_secs(r.init_s) for r in results]),
            ("sync, first (full ingest)", [_secs(r.sync_s) for r in results]),
            (
                "  messages/s",
                ["-" if r.messages_per_s is None else f"{r.messages_per_s:,.0f}" for r in results],
            ),
            ("  CPU (user+sys)", [_secs(r.sync_cpu_s) for r in results]),
            ("  peak RSS", [_mb_kb(r.sync_peak_rss_kb) for r in results]),
            ("sync, second (unchanged)", [_secs(r.resync_s) for r in results]),
            ("  peak RSS", [_mb_kb(r.resync_peak_rss_kb) for r in results]),
        ]
    heads = [f"N={r.n:,}" for r in results]
    w0 = max(len(label) for label, _ in rows)
    widths = [max(len(h), *(len(vals[i]) for _, vals in rows)) for i, h in enumerate(heads)]
    out = [" " * w0 + "".join(f"  {h:>{w}}" for h, w in zip(heads, widths, strict=True))]
    for label, vals in rows:
        cells = "".join(f"  {v:>{w}}" for v, w in zip(vals, widths, strict=True))
        out.append(f"{label:<{w0}}{cells}")
    if syncd is not None:
        out.append(f"\nseed {results[0].seed}; syncd = {syncd}; Python {platform.python_version()}")
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/ingest.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]) if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--n",
        type=int,
        default=100_000,
        metavar="N",
        help="messages to generate and ingest (default: 100000)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=1,
        help="seed of the generator; same seed and N give the same bytes (default: 1)",
    )
    p.add_argument(
        "--correspondents",
        type=int,
        default=2000,
        metavar="K",
        help="distinct people in the mail (default: 2000)",
    )
    p.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to write the Maildirs, configs, stores and logs (default: a new"
        " temporary folder under /tmp, removed at the end unless --keep). A Maildir"
        " left there by --keep with the same N and seed is reused.",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the generated data, stores and logs (the path is printed)",
    )
    cmp = p.add_mutually_exclusive_group()
    cmp.add_argument(
        "--compare",
        type=int,
        default=10_000,
        metavar="N2",
        help="also run at N2 messages and show both side by side (default: 10000)",
    )
    cmp.add_argument(
        "--no-compare", dest="compare", action="store_const", const=None, help="only run at N"
    )
    p.add_argument(
        "--generate-only",
        action="store_true",
        help="only write the Maildir of N messages (kept), print its path and size",
    )
    p.add_argument(
        "--syncd",
        default=None,
        metavar="PATH",
        help="the syncd command to measure (default: the one next to this Python,"
        " else the one on PATH)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the figures as one JSON document instead of a table",
    )
    args = p.parse_args(argv)
    if args.n < 1 or (args.compare is not None and args.compare < 1):
        p.error("message counts must be positive")
    if args.correspondents < 2:
        p.error("--correspondents must be at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    created = args.dir is None
    base = Path(tempfile.mkdtemp(prefix="syncd-bench-", dir="/tmp")) if created else args.dir
    base = base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    keep = args.keep or args.generate_only
    used: list[Path] = []
    ok = False
    try:
        if args.generate_only:
            r = run_once(base, args.n, args.seed, args.correspondents, None, used)
            if args.json:
                print(json.dumps(asdict(r), indent=2))
            else:
                print(
                    f"{r.maildir}\n{r.messages:,} messages ({r.sent:,} sent, {r.noise:,} noise,"
                    f" {r.threads:,} threads), {r.maildir_bytes / 1e6:,.1f} MB"
                )
            ok = True
            return 0
        syncd = find_syncd(args.syncd)
        sizes = [args.n]
        if args.compare is not None and args.compare != args.n:
            sizes.append(args.compare)
        # The smaller run goes first, so a broken syncd fails fast; columns keep --n first.
        results = {
            n: run_once(base, n, args.seed, args.correspondents, syncd, used) for n in sorted(sizes)
        }
        ordered = [results[n] for n in sizes]
        if args.json:
            print(
                json.dumps(
                    {
                        "syncd": syncd,
                        "python": platform.python_version(),
                        "platform": platform.platform(),
                        "kept": str(base) if keep else None,
                        "runs": [asdict(r) for r in ordered],
                    },
                    indent=2,
                )
            )
        else:
            print(table(ordered, syncd))
            if keep:
                print(f"data kept in {base}")
        ok = True
        return 0
    except BenchError as exc:
        print(f"bench/ingest.py: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench/ingest.py: interrupted", file=sys.stderr)
        return 130
    finally:
        if not keep:
            if created:
                shutil.rmtree(base, ignore_errors=True)
            else:
                for run_dir in used:  # only what this invocation wrote into --dir
                    shutil.rmtree(run_dir, ignore_errors=True)
        elif not ok:
            print(f"bench/ingest.py: data and logs kept in {base}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
