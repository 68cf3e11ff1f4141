"""Personal mail: people writing from every kind of client, including broken ones."""

from __future__ import annotations

from collections.abc import Iterator

from .common import (
    COLLEAGUES,
    OWNER,
    OWNER_ALIAS,
    OWNER_NAME,
    OWNER_TO,
    PEOPLE,
    Sample,
    alternative,
    auth,
    date,
    mid,
    mixed,
    received,
    text_plain,
    token,
)

SUBJECTS = [
    "Lunch on Thursday?",
    "Quick question about the contract",
    "Photos from the weekend",
    "Intro: Mei <> Alex",
    "Your talk at the meetup",
    "Draft for the grant application",
    "Are we still on for Friday?",
    "Happy birthday!",
    "Following up on our call",
    "Notes from today",
    "Kannst du mir die Unterlagen schicken?",
    "Budget numbers for Q2",
    "Recommendation letter",
    "Flat viewing on Saturday",
    "Thank you!",
    "Invoice question (the one from February)",
    "Can you review this by Monday?",
    "Coffee next week",
    "Re-scheduling our 1:1",
    "Heads-up: I'm in Berlin next week",
]


def client(kind: str, addr: str, i: int) -> tuple[list[tuple[str, str]], str]:
    """Header fields a mail client and its provider add, and the Message-ID it makes."""
    domain = addr.partition("@")[2]
    if kind == "gmail":
        return [
            ("DKIM-Signature", f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=20230601"),
            ("X-Google-DKIM-Signature", "v=1; a=rsa-sha256; d=1e100.net; s=20230601"),
            ("X-Gm-Message-State", f"AOJu0Y{token(addr, i, n=20)}"),
            ("X-Google-Smtp-Source", f"AGHT+I{token(addr, i, 2, n=24)}"),
            ("MIME-Version", "1.0"),
            alternative((addr, i)),
        ], mid("mail.gmail.com", addr, i, style="gmail")
    if kind == "outlook":
        return [
            ("Thread-Topic", "x"),
            ("Thread-Index", f"AQHa{token(addr, i, n=18)}=="),
            ("Accept-Language", "en-US"),
            ("Content-Language", "en-US"),
            ("X-MS-Has-Attach", ""),
            ("X-MS-TNEF-Correlator", ""),
            ("x-ms-publictraffictype", "Email"),
            ("X-MS-Exchange-Organization-SCL", "1"),
            ("X-Microsoft-Antispam", "BCL:0;"),
            (
                "X-Forefront-Antispam-Report",
                "CIP:255.255.255.255;CTRY:;LANG:en;SCL:1;SRV:;"
                "IPV:NLI;SFV:NSPM;H:DB9PR04MB8;PTR:;CAT:NONE;SFS:(13230031);DIR:INB;",
            ),
            ("MIME-Version", "1.0"),
            alternative((addr, i)),
        ], mid("DB9PR04MB8425.eurprd04.prod.outlook.com", addr, i, style="outlook")
    if kind == "apple":
        return [
            ("Mime-Version", "1.0 (Mac OS X Mail 16.0 \\(3774.500.171.1.1\\))"),
            ("X-Mailer", "Apple Mail (2.3774.500.171.1.1)"),
            alternative((addr, i)),
        ], mid(domain, addr, i, style="apple")
    if kind == "iphone":
        return [
            ("Mime-Version", "1.0 (1.0)"),
            ("X-Mailer", "iPhone Mail (21D61)"),
            alternative((addr, i)),
        ], mid(domain, addr, i, style="apple")
    if kind == "thunderbird":
        return [
            ("User-Agent", "Mozilla Thunderbird"),
            ("Content-Language", "de-DE"),
            ("MIME-Version", "1.0"),
            text_plain(),
            ("Content-Transfer-Encoding", "8bit"),
        ], mid(domain, addr, i)
    if kind == "roundcube":
        return [
            ("MIME-Version", "1.0"),
            text_plain(),
            ("User-Agent", "Roundcube Webmail/1.6.6"),
            ("X-Sender", addr),
        ], mid(domain, addr, i)
    if kind == "yahoo":
        return [
            ("X-Mailer", "WebService/1.1.22111 YMailNorrin"),
            ("MIME-Version", "1.0"),
            alternative((addr, i)),
        ], f"<{token(addr, i, n=9)}.{token(i, n=7)}.{i}@mail.yahoo.com>"
    if kind == "android":
        return [
            ("User-Agent", "K-9 Mail for Android"),
            ("MIME-Version", "1.0"),
            text_plain(),
        ], mid(domain, addr, i)
    # webmail of a German provider (web.de, GMX): no user agent, provider id headers
    return [
        ("MIME-Version", "1.0"),
        text_plain(),
        ("X-UI-Message-Type", "mail"),
        ("X-Provags-ID", f"V03:K1:{token(addr, i, n=20)}"),
        ("X-UI-Out-Filterresults", "notjunk:1;V03:K0:"),
    ], mid("web.de", addr, i)


CLIENTS = ["gmail", "outlook", "apple", "iphone", "thunderbird", "webmail", "yahoo", "android"]


def _person_mail(
    i: int, name: str, addr: str, kind: str, subject: str, extra: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    fields, message_id = client(kind, addr, i)
    domain = addr.partition("@")[2]
    return [
        ("Return-Path", f"<{addr}>"),
        received(f"mail-{token(domain, n=4)}.{domain}", i),
        auth(domain, mailfrom=addr),
        ("From", f"{name} <{addr}>"),
        ("Date", date(i)),
        ("Message-ID", message_id),
        ("Subject", subject),
        *extra,
        *fields,
    ]


def fresh_mail() -> Iterator[Sample]:
    for i in range(48):
        name, addr = PEOPLE[i % len(PEOPLE)]
        kind = CLIENTS[i % len(CLIENTS)]
        subject = SUBJECTS[(i * 7) % len(SUBJECTS)]
        to = [("To", OWNER_TO if i % 3 else f"{OWNER_ALIAS}")]
        yield Sample(
            f"person_{kind}_{i:02d}",
            tuple(_person_mail(i, name, addr, kind, subject, to)),
            "human",
            True,
            (addr,),
            f"a person writes from {kind}: no bulk or automation header",
        )


def replies() -> Iterator[Sample]:
    for i in range(36):
        name, addr = PEOPLE[(i * 3 + 1) % len(PEOPLE)]
        kind = CLIENTS[(i + 3) % len(CLIENTS)]
        subject = SUBJECTS[(i * 5 + 2) % len(SUBJECTS)]
        parent = f"<{token('out', i)}@example.com>"
        extra = [
            ("To", OWNER_TO),
            ("In-Reply-To", parent),
            ("References", f"<{token('root', i)}@example.com> {parent}"),
        ]
        if i % 4 == 0:
            extra.append(("Cc", f"{COLLEAGUES[i % 3][0]} <{COLLEAGUES[i % 3][1]}>"))
        prefix = ["Re: ", "RE: ", "AW: ", "Re: Re: "][i % 4]
        yield Sample(
            f"reply_{kind}_{i:02d}",
            tuple(_person_mail(100 + i, name, addr, kind, prefix + subject, extra)),
            "human",
            True,
            (addr,),
            "a person answers the owner's message (In-Reply-To)",
        )


def outgoing() -> Iterator[Sample]:
    for i in range(24):
        name, addr = PEOPLE[(i * 7 + 2) % len(PEOPLE)]
        fields, message_id = client(["gmail", "outlook", "apple", "thunderbird"][i % 4], OWNER, i)
        headers = [
            ("From", f"{OWNER_NAME} <{OWNER if i % 5 else OWNER_ALIAS}>"),
            ("To", f"{name} <{addr}>"),
            ("Subject", ("Re: " if i % 2 else "") + SUBJECTS[(i * 3) % len(SUBJECTS)]),
            ("Date", date(200 + i)),
            ("Message-ID", message_id),
            *fields,
        ]
        counterparts: tuple[str, ...] = (addr,)
        if i % 4 == 1:
            other = PEOPLE[(i + 5) % len(PEOPLE)]
            headers.insert(2, ("Cc", f"{other[0]} <{other[1]}>, {OWNER}"))
            counterparts = (addr, other[1])
        if i % 2:
            headers.append(("In-Reply-To", f"<{token('in', i)}@{addr.partition('@')[2]}>"))
        role = "sent" if i % 3 else "other"
        yield Sample(
            f"owner_out_{i:02d}",
            tuple(headers),
            "human",
            True,
            counterparts,
            "the owner writes to people"
            + (" (read from the Sent folder)" if role == "sent" else ""),
            folder_role=role,
        )
    # The owner writes to a support desk's no-reply address and to themself.
    yield Sample(
        "owner_out_to_noreply",
        (
            ("From", OWNER_TO),
            ("To", "no-reply@accounts.example-bank.example"),
            ("Subject", "Re: Your statement is ready"),
            ("Date", date(240)),
            ("Message-ID", "<out-noreply-1@example.com>"),
        ),
        "human",
        False,
        (),
        "the owner answered a no-reply address: nobody on the other side",
        folder_role="sent",
    )
    yield Sample(
        "owner_note_to_self",
        (
            ("From", OWNER_TO),
            ("To", f"{OWNER_NAME} <{OWNER_ALIAS}>"),
            ("Subject", "reminder: passport"),
            ("Date", date(241)),
            ("Message-ID", "<self-1@example.com>"),
        ),
        "human",
        False,
        (),
        "a note to self: no counterpart",
        folder_role="sent",
    )


def colleagues() -> Iterator[Sample]:
    for i in range(10):
        name, addr = COLLEAGUES[i % 3]
        fields, _ = client("outlook", addr, 300 + i)
        headers = [
            ("From", f"{name} <{addr}>"),
            ("To", f"{OWNER_NAME} <{OWNER}>"),
            (
                "Subject",
                [
                    "Standup notes",
                    "RE: Hiring plan",
                    "Offsite venue",
                    "FW: Customer call",
                    "Expense report",
                ][i % 5],
            ),
            ("Date", date(300 + i)),
            (
                "Message-ID",
                mid("AM0PR01MB5.eurprd01.prod.exchangelabs.com", addr, i, style="outlook"),
            ),
            ("X-MS-Exchange-Organization-AuthAs", "Internal"),
            ("X-MS-Exchange-Organization-AuthSource", "AM0PR01MB5.eurprd01.prod.exchangelabs.com"),
            ("X-MS-Exchange-Organization-SCL", "-1"),
            *[f for f in fields if f[0] != "X-MS-Exchange-Organization-SCL"],
        ]
        if i % 3 == 0:
            headers.insert(2, ("Cc", ", ".join(f"{n} <{a}>" for n, a in COLLEAGUES if a != addr)))
        yield Sample(
            f"colleague_{i:02d}",
            tuple(headers),
            "human",
            True,
            (addr,),
            "a colleague writes through the company's Exchange (internal, SCL -1)",
        )


def groups() -> Iterator[Sample]:
    for i, size in enumerate((3, 5, 9, 10, 11, 14, 25, 60)):
        name, addr = PEOPLE[(i * 5) % len(PEOPLE)]
        others = [f"Guest {k} <guest{k}.{i}@example.net>" for k in range(size - 2)]
        headers = [
            ("From", f"{name} <{addr}>"),
            ("To", ", ".join([OWNER_TO, *others[: len(others) // 2]])),
            ("Cc", ", ".join(others[len(others) // 2 :])),
            (
                "Subject",
                [
                    "Dinner plans",
                    "Book club: next pick",
                    "Reunion 2024",
                    "Hike on Sunday",
                    "Project kickoff",
                    "Wedding details",
                    "Neighbourhood meeting",
                    "Conference speakers",
                ][i],
            ),
            ("Date", date(400 + i)),
            ("Message-ID", mid(addr.partition("@")[2], "grp", i)),
            text_plain(),
        ]
        group = size - 1  # the sender and the other recipients; the owner does not count
        yield Sample(
            f"group_{size:02d}",
            tuple(headers),
            "human",
            group <= 10,
            (addr,),
            f"a person writes to a group of {group} besides the owner: "
            + ("small enough to be personal" if group <= 10 else "more than max_group_size (10)"),
        )


def role_address_people() -> Iterator[Sample]:
    cases = [
        (
            "Maria Blum | Blumen Meier",
            "info@blumen-meier.example",
            "roundcube",
            "Re: Flowers for the 14th",
            True,
        ),
        (
            "Giulia - Trattoria Da Gino",
            "info@trattoria-dagino.example",
            "webmail",
            "Re: Table for 12 on Friday",
            True,
        ),
        (
            "Ben at Fernweh Books",
            "hello@fernweh-books.example",
            "gmail",
            "Your special order arrived",
            False,
        ),
        ("Office Dr. Weber", "praxis@dr-weber.example", "outlook", "Re: Termin verschieben", True),
        ("Lena (Yoga Loft)", "kontakt@yogaloft.example", "apple", "Re: Private lessons", True),
        (
            "Support Team | Tiny SaaS",
            "support@tinysaas.example",
            "gmail",
            "Re: Export to CSV fails",
            True,
        ),
        (
            "Hausverwaltung Krüger",
            "info@hv-krueger.example",
            "outlook",
            "Wasserschaden im 2. OG",
            False,
        ),
        (
            "Sales - Pixel Print",
            "sales@pixelprint.example",
            "thunderbird",
            "Re: Quote for 500 flyers",
            True,
        ),
        (
            "Billing | Small Studio",
            "billing@smallstudio.example",
            "gmail",
            "Re: Invoice 2024-017",
            True,
        ),
    ]
    for i, (name, addr, kind, subject, is_reply) in enumerate(cases):
        extra = [("To", OWNER_TO)]
        if is_reply:
            extra.append(("In-Reply-To", f"<{token('ask', i)}@example.com>"))
            extra.append(("References", f"<{token('ask', i)}@example.com>"))
        yield Sample(
            f"role_person_{i}",
            tuple(_person_mail(500 + i, name, addr, kind, subject, extra)),
            "human",
            True,
            (addr,),
            "a person at a small business writes from its shared role address with an"
            " ordinary mail client" + (", answering the owner" if is_reply else ""),
        )


def personal_ics() -> Iterator[Sample]:
    for i, (name, addr) in enumerate(PEOPLE[:4]):
        fields, message_id = client(["gmail", "apple", "thunderbird", "outlook"][i], addr, 600 + i)
        fields = [f for f in fields if f[0].lower() != "content-type"]
        yield Sample(
            f"personal_ics_{i}",
            (
                ("From", f"{name} <{addr}>"),
                ("To", OWNER_TO),
                (
                    "Subject",
                    [
                        "Dinner at ours on the 14th",
                        "Our holiday dates",
                        "Kita-Termine 2024",
                        "Flight details",
                    ][i],
                ),
                ("Date", date(600 + i)),
                ("Message-ID", message_id),
                *fields,
                mixed((addr, "ics")),
            ),
            "human",
            True,
            (addr,),
            "a friend's own note with a .ics file attached: not calendar machinery",
            body=(
                "--b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nsee the attached file\r\n"
                '--b\r\nContent-Type: text/calendar; name="event.ics"\r\n'
                'Content-Disposition: attachment; filename="event.ics"\r\n\r\nBEGIN:VCALENDAR\r\n'
            ),
        )


def traps() -> Iterator[Sample]:
    """People whose subjects look like machinery."""
    subjects = [
        "Out of office next week?",
        "Invitation: my 40th birthday party",
        "Re: Undeliverable boxes - what now?",
        "Automatic reply settings on the shared inbox",
        "Accepted! See you there",
        "Newsletter idea for the club",
        "Your order (the cake) is ready",
        "Notification from the school - did you see it?",
    ]
    for i, subject in enumerate(subjects):
        name, addr = PEOPLE[(i * 3 + 2) % len(PEOPLE)]
        kind = CLIENTS[(i + 1) % len(CLIENTS)]
        yield Sample(
            f"trap_subject_{i}",
            tuple(_person_mail(700 + i, name, addr, kind, subject, [("To", OWNER_TO)])),
            "human",
            True,
            (addr,),
            "a person's subject only looks like machinery; no machine header",
        )


def forwarded_softfail() -> Iterator[Sample]:
    for i in range(3):
        name, addr = PEOPLE[(i + 9) % len(PEOPLE)]
        domain = addr.partition("@")[2]
        yield Sample(
            f"person_forwarded_{i}",
            (
                (
                    "Return-Path",
                    f"<SRS0=ab{i}=K3={domain}={addr.partition('@')[0]}@alumni.example>",
                ),
                (
                    "Authentication-Results",
                    f"mx1.example.com; dkim=pass header.d={domain};"
                    f" spf=softfail smtp.mailfrom=alumni.example; dmarc=pass header.from={domain}",
                ),
                ("From", f"{name} <{addr}>"),
                ("To", f"{name.split()[0]} friends <{OWNER}>"),
                ("Subject", ["Long time no see", "Our reunion photos", "Moving to Lisbon"][i]),
                ("Date", date(720 + i)),
                ("Message-ID", mid(domain, "fw", i)),
                text_plain(),
            ),
            "human",
            True,
            (addr,),
            "a person's mail through a forwarding address: SPF soft-fails, DKIM and DMARC pass",
        )


def malformed() -> Iterator[Sample]:
    jamie, priya, joerg = PEOPLE[0][1], PEOPLE[1][1], PEOPLE[2][1]
    yield Sample(
        "bad_no_date",
        (
            ("From", f"Jamie Lee <{jamie}>"),
            ("To", OWNER),
            ("Subject", "no date header"),
            ("Message-ID", "<nodate-1@mail.gmail.com>"),
        ),
        "human",
        True,
        (jamie,),
        "a person's mail without Date (an old client)",
    )
    yield Sample(
        "bad_no_message_id",
        (
            ("From", f"Priya Raman <{priya}>"),
            ("To", OWNER),
            ("Subject", "sent from a printer app"),
            ("Date", date(801)),
        ),
        "human",
        True,
        (priya,),
        "a person's mail without Message-ID",
    )
    yield Sample(
        "bad_encoded_word",
        (
            ("From", f"=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <{joerg}>"),
            ("To", OWNER),
            ("Subject", "=?utf-8?B?w5xiZXI=?= =?bogus?Q?caf=E9?= =?utf-8?Q?broken"),
            ("Date", date(802)),
            ("Message-ID", "<enc-1@web.de>"),
        ),
        "human",
        True,
        (joerg,),
        "broken RFC 2047 words in a person's subject",
    )
    yield Sample(
        "bad_8bit_latin1",
        (
            ("From", f"Camille Dubois <{PEOPLE[10][1]}>"),
            ("To", OWNER),
            ("Subject", "Caf\u00e9 cr\u00e8me \u00e0 10h"),
            ("Date", date(803)),
            ("Message-ID", "<8bit-1@orange.fr>"),
            ("Content-Type", "text/plain; charset=iso-8859-1"),
        ),
        "human",
        True,
        (PEOPLE[10][1],),
        "raw 8-bit subject from an old client",
    )
    yield Sample(
        "bad_lowercase_names",
        (
            ("from", f"ravi <{PEOPLE[11][1]}>"),
            ("to", OWNER),
            ("subject", "hi"),
            ("date", date(804)),
            ("message-id", "<lc-1@patel-family.example>"),
        ),
        "human",
        True,
        (PEOPLE[11][1],),
        "header names in lower case (a script the person wrote)",
    )
    yield Sample(
        "bad_repeated_to",
        (
            ("From", f"Elena Rossi <{PEOPLE[12][1]}>"),
            ("To", OWNER),
            ("To", f"Oliver Bennett <{PEOPLE[13][1]}>"),
            ("Subject", "two To lines"),
            ("Date", date(805)),
            ("Message-ID", "<twoto-1@libero.it>"),
        ),
        "human",
        True,
        (PEOPLE[12][1],),
        "two To header fields (a broken client); still personal",
    )
    yield Sample(
        "bad_unquoted_comma_name",
        (
            ("From", f"Bennett, Oliver <{PEOPLE[13][1]}>"),
            ("To", OWNER),
            ("Subject", "Re: tickets"),
            ("Date", date(806)),
            ("Message-ID", "<comma-1@tailspin.example>"),
            ("In-Reply-To", "<t-1@example.com>"),
        ),
        "human",
        True,
        (PEOPLE[13][1],),
        "display name with an unquoted comma",
    )
    yield Sample(
        "bad_no_subject",
        (
            ("From", f"<{PEOPLE[14][1]}>"),
            ("To", f"<{OWNER}>"),
            ("Date", date(807)),
            ("Message-ID", "<nosub-1@proton.me>"),
        ),
        "human",
        True,
        (PEOPLE[14][1],),
        "no Subject and no display names",
    )
    yield Sample(
        "bad_missing_from",
        (
            ("To", OWNER),
            ("Subject", "who sent this?"),
            ("Date", date(808)),
        ),
        "human",
        False,
        (),
        "no From at all: no direction, so no interaction",
    )
    yield Sample(
        "bad_garbage_date",
        (
            ("From", f"Marcus Johnson <{PEOPLE[15][1]}>"),
            ("To", OWNER),
            ("Subject", "hey"),
            ("Date", "Someday, 99 Foo 20244 25:61"),
            ("Message-ID", "<gd-1@hotmail.com>"),
        ),
        "human",
        True,
        (PEOPLE[15][1],),
        "an unparseable Date",
    )
    yield Sample(
        "bad_folded_to",
        (
            ("From", f"Ingrid Larsen <{PEOPLE[16][1]}>"),
            ("To", f"Alex Morgan\r\n <{OWNER}>,\r\n\tKenji <{PEOPLE[17][1]}>"),
            ("Subject", "folded recipients"),
            ("Date", date(809)),
            ("Message-ID", "<fold-1@fjord-analytics.example>"),
        ),
        "human",
        True,
        (PEOPLE[16][1],),
        "folded address header",
    )
    yield Sample(
        "bad_huge_references",
        (
            ("From", f"Kenji Watanabe <{PEOPLE[17][1]}>"),
            ("To", OWNER),
            ("Subject", "Re: " * 30 + "the longest thread"),
            ("Date", date(810)),
            ("Message-ID", "<huge-1@adatum.example>"),
            ("In-Reply-To", "<ref0299@adatum.example>"),
            ("References", " ".join(f"<ref{k:04d}@adatum.example>" for k in range(300))),
        ),
        "human",
        True,
        (PEOPLE[17][1],),
        "a very long thread",
    )


def people_samples() -> list[Sample]:
    return [
        *fresh_mail(),
        *replies(),
        *outgoing(),
        *colleagues(),
        *groups(),
        *role_address_people(),
        *personal_ics(),
        *traps(),
        *forwarded_softfail(),
        *malformed(),
        *people_at_service_domains(),
        *more_personal(),
    ]


def people_at_service_domains() -> Iterator[Sample]:
    """Staff of big services write from the same domains their notifications come from."""
    cases = [
        ("Priya Raman", "priya.raman@google.com", "gmail", "Re: Partnership call"),
        ("Jeff Miller", "jeffmil@amazon.com", "outlook", "Speaker slot at re:Invent"),
        ("Sara Lind", "sara.lind@microsoft.com", "outlook", "Follow-up from Build"),
        ("Tom Hale", "thale@stripe.com", "gmail", "Intro from Mei"),
        ("Nina Berg", "nina.berg@zalando.de", "outlook", "Vortrag im April"),
    ]
    for i, (name, addr, kind, subject) in enumerate(cases):
        yield Sample(
            f"person_at_service_{i}",
            tuple(_person_mail(900 + i, name, addr, kind, subject, [("To", OWNER_TO)])),
            "human",
            True,
            (addr,),
            "an employee of a big service writes from the service's own domain",
        )


def more_personal() -> Iterator[Sample]:
    extras = [
        ("Outlook for iOS", [("X-MS-Exchange-Organization-SCL", "-1")], "Running late, 10 min"),
        ("a reply with SCL 4", [("X-MS-Exchange-Organization-SCL", "4")], "Re: the slides"),
        (
            "a note with X-Spam-Status No",
            [("X-Spam-Status", "No, score=-0.1 required=5.0")],
            "Weekend?",
        ),
        ("rspamd ham", [("X-Spam", "No"), ("X-Rspamd-Score", "-1.20")], "Fotos vom Ausflug"),
        ("a list of friends in Bcc", [("To", "undisclosed-recipients:;")], "New address!"),
        (
            "ProtonMail",
            [("X-Pm-Origin", "internal"), ("X-Pm-Content-Encryption", "end-to-end")],
            "Kids' schedule",
        ),
        (
            "a Gmail reply with Feedback-ID-less Google headers",
            [("X-Google-Smtp-Source", "AGHT+I"), ("X-Received", "by 2002:a05")],
            "Re: Barbecue",
        ),
        (
            "a person using Superhuman",
            [("X-Mailer", "Superhuman Desktop (2024-03-01)")],
            "Intro: Jamie <> Alex",
        ),
    ]
    for i, (what, hs, subject) in enumerate(extras):
        name, addr = PEOPLE[(i * 7 + 5) % len(PEOPLE)]
        to = [] if any(h[0] == "To" for h in hs) else [("To", OWNER_TO)]
        yield Sample(
            f"person_more_{i}",
            tuple(
                _person_mail(
                    950 + i, name, addr, "gmail" if i % 2 else "outlook", subject, [*to, *hs]
                )
            ),
            "human",
            True,
            (addr,),
            f"a person's mail: {what}",
        )
