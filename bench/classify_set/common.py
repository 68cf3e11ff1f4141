"""Building blocks of the evaluation set: the owner, header helpers, the Sample type."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

OWNER_NAME = "Alex Morgan"
OWNER = "alex@example.com"
OWNER_ALIAS = "alex.morgan@example.com"
OWNER_TO = f"{OWNER_NAME} <{OWNER}>"
MX = "mx1.example.com"  # the owner's receiving server, which writes Authentication-Results


@dataclass(frozen=True)
class Sample:
    name: str
    headers: tuple[tuple[str, str], ...]
    kind: str
    interaction: bool
    counterparts: tuple[str, ...]
    note: str
    body: str = "Hello,\n\nsee below.\n"
    folder_role: str = "inbox"
    labels: frozenset[str] = field(default_factory=frozenset)

    def eml(self) -> bytes:
        head = "\r\n".join(f"{n}: {v}" for n, v in self.headers)
        return (head + "\r\n\r\n" + self.body.replace("\n", "\r\n")).encode("utf-8")


def date(i: int, zone: str = "+0100") -> str:
    at = datetime(2024, 3, 4, 7, 13, tzinfo=UTC) + timedelta(hours=7 * i, minutes=13 * i)
    return at.strftime("%a, %d %b %Y %H:%M:%S ") + zone


def token(*parts: object, n: int = 16) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:n]


def mid(domain: str, *seed: object, style: str = "plain") -> str:
    t = token(domain, *seed)
    if style == "gmail":
        return f"<CA+{t[:10].upper()}{t[10:]}=Xk{t[:6]}@mail.gmail.com>"
    if style == "outlook":
        return f"<{t[:4].upper()}PR0{t[4:6]}MB{t[6:10].upper()}{t[10:14].upper()}@{domain}>"
    if style == "ses":
        return f"<0100018e{t}-{t[:8]}-{t[8:12]}-000000@email.amazonses.com>"
    if style == "apple":
        u = t.upper()
        return f"<{u[:8]}-{u[8:12]}-{u[12:16]}-A1B2-{u[:12]}@{domain}>"
    return f"<{t}.{token(t, n=6)}@{domain}>"


def auth(
    d: str,
    spf: str = "pass",
    dkim: str = "pass",
    dmarc: str = "pass",
    mailfrom: str | None = None,
) -> tuple[str, str]:
    value = (
        f"{MX}; dkim={dkim} header.d={d} header.s=s1 header.b=Ab3dEf; "
        f"spf={spf} (domain of {mailfrom or 'bounce@' + d} designates 192.0.2.10 as permitted"
        f" sender) smtp.mailfrom={mailfrom or 'bounce@' + d}; dmarc={dmarc} (p=NONE"
        f" sp=NONE dis=NONE) header.from={d}"
    )
    return ("Authentication-Results", value)


def received(host: str, i: int) -> tuple[str, str]:
    return (
        "Received",
        f"from {host} ({host} [192.0.2.{10 + i % 200}]) by {MX} (Postfix) with ESMTPS id"
        f" 4Tq{token(host, i, n=6)} for <{OWNER}>; {date(i)}",
    )


def text_plain(charset: str = "UTF-8") -> tuple[str, str]:
    return ("Content-Type", f'text/plain; charset="{charset}"')


def alternative(seed: object) -> tuple[str, str]:
    return ("Content-Type", f'multipart/alternative; boundary="000000000000{token(seed, n=12)}"')


def mixed(seed: object) -> tuple[str, str]:
    return ("Content-Type", f'multipart/mixed; boundary="----=_Part_{token(seed, n=10)}"')


PEOPLE = [
    ("Jamie Lee", "jamie.lee@gmail.com"),
    ("Priya Raman", "priya.raman@northwind-consulting.example"),
    ("Jörg Müller", "joerg.mueller@web.de"),
    ("Sofia García", "sofia.garcia@outlook.com"),
    ("Tom O'Brien", "tom.obrien@icloud.com"),
    ("Mei Chen", "mei.chen@contoso-partners.example"),
    ("Lukas Novak", "lukas@novak-design.example"),
    ("Amara Okafor", "amara.okafor@yahoo.com"),
    ("Hannah Schmidt", "h.schmidt@kanzlei-schmidt.example"),
    ("Daniel Kim", "dkim@fabrikam.example"),
    ("Camille Dubois", "camille.dubois@orange.fr"),
    ("Ravi Patel", "ravi@patel-family.example"),
    ("Elena Rossi", "elena.rossi@libero.it"),
    ("Oliver Bennett", "oliver.bennett@tailspin.example"),
    ("Fatima Zahra", "fatima.zahra@proton.me"),
    ("Marcus Johnson", "marcus.j@hotmail.com"),
    ("Ingrid Larsen", "ingrid.larsen@fjord-analytics.example"),
    ("Kenji Watanabe", "k.watanabe@adatum.example"),
    ("Lucía Fernández", "lucia.fernandez@gmx.es"),
    ("Noah Williams", "noah@williams-bakery.example"),
]
COLLEAGUES = [
    ("Sam Taylor", "sam.taylor@example.com"),
    ("Robin Weiss", "robin.weiss@example.com"),
    ("Chris Park", "chris.park@example.com"),
]
