"""System mail, monitors, bounces, auto-replies, mailing lists, spam and phishing."""

from __future__ import annotations

from collections.abc import Iterator

from .common import OWNER, OWNER_TO, PEOPLE, Sample, alternative, auth, date, mid, text_plain, token


def system_mail() -> Iterator[Sample]:
    hosts = ["web1.example.com", "db2.example.com", "backup.example.com", "nas.home.example"]
    for i, host in enumerate(hosts):
        short = host.partition(".")[0]
        yield Sample(
            f"cron_{i}",
            (
                ("Return-Path", f"<root@{host}>"),
                ("From", f"root@{host} (Cron Daemon)"),
                ("To", "root" if i % 2 else OWNER),
                ("Subject", f"Cron <root@{short}> /usr/local/bin/backup.sh --daily"),
                ("MIME-Version", "1.0"),
                text_plain(),
                ("Content-Transfer-Encoding", "8bit"),
                ("X-Cron-Env", "<SHELL=/bin/sh>"),
                ("X-Cron-Env", "<HOME=/root>"),
                ("X-Cron-Env", "<LOGNAME=root>"),
                ("Message-Id", f"<20240305020001.{token(host, n=8).upper()}@{host}>"),
                ("Date", date(2000 + i)),
            ),
            "notification",
            False,
            (),
            "notification: cron output (X-Cron-Env) from root@",
        )
    extra = [
        (
            "logwatch",
            f"Logwatch for {hosts[0]} (Linux)",
            "logwatch@web1.example.com",
            [("X-Mailer", "Logwatch 7.5.6")],
        ),
        (
            "unattended",
            "unattended-upgrades result for db2.example.com: SUCCESS",
            "root@db2.example.com",
            [],
        ),
        (
            "fail2ban",
            "[Fail2Ban] sshd: banned 203.0.113.7 from web1",
            "fail2ban@web1.example.com",
            [],
        ),
        (
            "smartd",
            "SMART error (CurrentPendingSector) detected on host: nas",
            "root@nas.home.example",
            [],
        ),
        (
            "systemd",
            "[backup.example.com] borg-backup.service failed",
            "systemd@backup.example.com",
            [("Auto-Submitted", "auto-generated")],
        ),
        ("mdadm", "Fail event on /dev/md0:nas", "mdadm@nas.home.example", []),
        (
            "dmarc",
            "Report domain: example.com Submitter: google.com Report-ID: 1234",
            "noreply-dmarc-support@google.com",
            [("Content-Type", "multipart/mixed; boundary=x")],
        ),
    ]
    for i, (name, subject, from_, hs) in enumerate(extra):
        yield Sample(
            f"system_{name}",
            (
                ("From", from_),
                ("To", OWNER),
                ("Subject", subject),
                ("Date", date(2010 + i)),
                ("Message-ID", mid(from_.partition("@")[2], name)),
                *([text_plain()] if not hs or hs[0][0] != "Content-Type" else []),
                *hs,
            ),
            "notification",
            False,
            (),
            f"notification: {name} system mail",
        )


def monitors() -> Iterator[Sample]:
    rows = [
        (
            "UptimeRobot <alert@uptimerobot.com>",
            "Monitor is DOWN: shop.example.com",
            "uptimerobot.com",
            [("X-Mailgun-Sid", "x")],
        ),
        (
            "UptimeRobot <alert@uptimerobot.com>",
            "Monitor is UP: shop.example.com",
            "uptimerobot.com",
            [("X-Mailgun-Sid", "y")],
        ),
        (
            "Pingdom <alert@pingdom.com>",
            "DOWN alert: api (api.example.com) is DOWN",
            "pingdom.com",
            [],
        ),
        ("StatusCake <alerts@statuscake.com>", "Website example.com Is Down", "statuscake.com", []),
        (
            "Better Stack <alerts@betterstack.com>",
            "New incident: api.example.com is down",
            "betterstack.com",
            [("X-SES-Outgoing", "x")],
        ),
        (
            "Nagios <nagios@monitor.example.com>",
            "** PROBLEM Service Alert: web1/HTTP is CRITICAL **",
            "monitor.example.com",
            [],
        ),
        (
            "Zabbix <zabbix@monitor.example.com>",
            "Problem: High CPU utilization on db2",
            "monitor.example.com",
            [("Auto-Submitted", "auto-generated")],
        ),
        (
            "Grafana <grafana@example.com>",
            "[FIRING:1] DiskFull (db2 /var)",
            "example.com",
            [("X-Grafana-Alert", "1")],
        ),
        (
            "Alertmanager <alertmanager@example.com>",
            "[RESOLVED] HighLatency api",
            "example.com",
            [],
        ),
        (
            "Sentry <noreply@md.getsentry.com>",
            "[acme] ZeroDivisionError: division by zero",
            "md.getsentry.com",
            [("X-Sentry-Project", "acme"), ("Feedback-ID", "x:sentry")],
        ),
        ("Datadog Alerting <alert@dtdg.co>", "[Triggered] CPU high on web1", "dtdg.co", []),
        (
            "PagerDuty <no-reply@pagerduty.com>",
            "[PagerDuty] You have 1 TRIGGERED Incident",
            "pagerduty.com",
            [],
        ),
        (
            "Healthchecks.io <alerts@healthchecks.io>",
            "DOWN | nightly-backup",
            "healthchecks.io",
            [],
        ),
        (
            "Let's Encrypt Expiry Bot <expiry@letsencrypt.org>",
            'Let\'s Encrypt certificate expiration notice for domain "example.com"',
            "letsencrypt.org",
            [],
        ),
    ]
    for i, (from_, subject, domain, extra) in enumerate(rows):
        yield Sample(
            f"monitor_{i:02d}",
            (
                ("Return-Path", f"<bounce@{domain}>"),
                auth(domain),
                ("From", from_),
                ("To", OWNER_TO),
                ("Subject", subject),
                ("Date", date(2100 + i)),
                ("Message-ID", mid(domain, "mon", i)),
                ("MIME-Version", "1.0"),
                text_plain(),
                *extra,
            ),
            "notification",
            False,
            (),
            "notification: an uptime or error monitor's alert",
        )


def bounces() -> Iterator[Sample]:
    dsn = 'multipart/report; report-type=delivery-status; boundary="9B0A3C2D.1709629000/mx1"'
    rows = [
        (
            "MAILER-DAEMON@mx1.example.com (Mail Delivery System)",
            "Undelivered Mail Returned to Sender",
            dsn,
            [("Auto-Submitted", "auto-replied")],
        ),
        (
            "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
            "Delivery Status Notification (Failure)",
            dsn,
            [("X-Failed-Recipients", "old.friend@example.net"), ("Auto-Submitted", "auto-replied")],
        ),
        (
            "Microsoft Outlook <postmaster@outlook.com>",
            "Undeliverable: Proposal draft",
            'multipart/report; report-type=delivery-status; boundary="_000_"',
            [("X-MS-Exchange-Message-Is-Ndr", ""), ("Auto-Submitted", "auto-replied")],
        ),
        (
            "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
            "Delivery Status Notification (Delay)",
            dsn,
            [("Auto-Submitted", "auto-replied")],
        ),
        ("MAILER-DAEMON@mail.example.net", "failure notice", "text/plain", []),
        (
            "Mail Delivery System <Mailer-Daemon@smtp.example.org>",
            "Mail delivery failed: returning message to sender",
            "text/plain",
            [("X-Failed-Recipients", "x@example.org"), ("Auto-Submitted", "auto-replied")],
        ),
        ("postmaster@firma.example", "Unzustellbar: Angebot", dsn, []),
        (
            "Mail Administrator <Postmaster@yahoo.com>",
            "Returned mail: see transcript for details",
            dsn,
            [],
        ),
        ("System Administrator <postmaster@uni.example>", "Undeliverable: Re: thesis", dsn, []),
    ]
    for i, (from_, subject, ctype, extra) in enumerate(rows):
        yield Sample(
            f"bounce_{i}",
            (
                ("Return-Path", "<>"),
                ("From", from_),
                ("To", OWNER),
                ("Subject", subject),
                ("Date", date(2200 + i)),
                ("Message-ID", f"<{token('b', i)}@mx.example.net>"),
                ("MIME-Version", "1.0"),
                ("Content-Type", ctype),
                *extra,
            ),
            "bounce",
            False,
            (),
            "bounce: a delivery status notification",
        )


OOF_SUBJECTS = [
    # (subject, language, headers) for Outlook client rules, which add no header
    ("Out of Office", "en", []),
    ("Automatic reply", "en", []),
    ("Abwesenheitsnotiz", "de", []),
    ("Réponse automatique", "fr", []),
    ("Respuesta automática", "es", []),
    ("Risposta automatica", "it", []),
    ("Automatisch antwoord", "nl", []),
    ("Autosvar", "sv", []),
    ("Resposta automática", "pt", []),
    ("Odpowiedź automatyczna", "pl", []),
    ("Out of office - back on 18 March", "en", []),
    ("Abwesend bis 15.03.", "de", []),
]


def auto_replies() -> Iterator[Sample]:
    for i, (subject, lang, extra) in enumerate(OOF_SUBJECTS):
        name, addr = PEOPLE[i % len(PEOPLE)]
        yield Sample(
            f"oof_client_rule_{lang}_{i:02d}",
            (
                ("From", f"{name} <{addr}>"),
                ("To", OWNER_TO),
                ("Subject", subject),
                ("Date", date(2300 + i)),
                ("Message-ID", mid("outlook.com", "oof", i, style="outlook")),
                ("Thread-Topic", subject),
                ("Content-Type", 'text/plain; charset="utf-8"'),
                ("X-MS-Has-Attach", ""),
                *extra,
            ),
            "auto_reply",
            False,
            (addr,),
            f"auto_reply: an Outlook client-rule reply ({lang}), recognisable by its subject only",
        )
    server = [
        (
            "Automatic reply: Proposal draft",
            [
                ("Auto-Submitted", "auto-generated"),
                ("X-Auto-Response-Suppress", "All"),
                ("X-MS-Exchange-Inbox-Rules-Loop", "x@contoso.example"),
            ],
        ),
        (
            "Automatische Antwort: Angebot",
            [("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")],
        ),
        ("Re: Proposal draft", [("Auto-Submitted", "auto-replied"), ("Precedence", "bulk")]),
        ("On vacation until 20 March", [("Auto-Submitted", "auto-replied")]),
        ("Out of Office: Budget numbers", [("X-Autoreply", "yes"), ("Precedence", "auto_reply")]),
        ("Thanks for your message", [("X-Autorespond", "Thanks for your message")]),
        ("[Auto-Reply] Re: Invoice", [("Auto-Submitted", "auto-replied")]),
        ("Abwesenheitsnotiz: Termin", [("X-AutoGenerated", "Reply")]),
    ]
    for i, (subject, extra) in enumerate(server):
        name, addr = PEOPLE[(i * 3 + 4) % len(PEOPLE)]
        yield Sample(
            f"oof_server_{i}",
            (
                ("From", f"{name} <{addr}>"),
                ("To", OWNER),
                ("Subject", subject),
                ("Date", date(2320 + i)),
                ("Message-ID", mid(addr.partition("@")[2], "oofs", i)),
                ("In-Reply-To", f"<{token('orig', i)}@example.com>"),
                text_plain(),
                *extra,
            ),
            "auto_reply",
            False,
            (addr,),
            "auto_reply: a vacation responder on the person's mailbox",
        )
    for i in range(3):
        name, addr = PEOPLE[(i + 7) % len(PEOPLE)]
        yield Sample(
            f"read_receipt_{i}",
            (
                ("From", f"{name} <{addr}>"),
                ("To", OWNER),
                ("Subject", f"Read: Proposal v{i}"),
                ("Date", date(2340 + i)),
                ("Message-ID", mid("outlook.com", "mdn", i)),
                (
                    "Content-Type",
                    'multipart/report; report-type=disposition-notification; boundary="x"',
                ),
            ),
            "auto_reply",
            False,
            (addr,),
            "auto_reply: a read receipt (MDN)",
        )


def lists() -> Iterator[Sample]:
    for i, (name, addr) in enumerate(PEOPLE[:18]):
        v = i % 6
        subject = [
            "Re: [Python-Dev] PEP 999 discussion",
            "[Foo-users] Build fails on ARM",
            "Re: Best hiking trails near Graz",
            "[PATCH v3 2/7] mm: fix race",
            "Re: [sympa-users] digest mode",
            "Re: Committee meeting minutes",
        ][v]
        if v == 0:
            hs = [
                ("List-Id", "Python core development <python-dev.python.org>"),
                ("List-Post", "<mailto:python-dev@python.org>"),
                ("List-Unsubscribe", "<mailto:python-dev-leave@python.org>"),
                ("X-Mailman-Version", "3.3.9"),
                ("Precedence", "list"),
                ("Sender", "python-dev-bounces@python.org"),
                ("To", "python-dev@python.org"),
            ]
        elif v == 1:
            hs = [
                ("List-Id", "<foo-users.lists.sourceforge.net>"),
                ("List-Post", "<mailto:foo-users@lists.sourceforge.net>"),
                ("X-BeenThere", "foo-users@lists.sourceforge.net"),
                ("X-Mailman-Version", "2.1.21"),
                ("Precedence", "list"),
                ("To", "foo-users@lists.sourceforge.net"),
                ("Cc", OWNER),
            ]
        elif v == 2:
            hs = [
                (
                    "Mailing-list",
                    "list hiking-graz@googlegroups.com; contact hiking-graz+owners@googlegroups.com",  # noqa: E501
                ),
                ("List-ID", "<hiking-graz.googlegroups.com>"),
                ("X-Google-Group-Id", "771234"),
                ("List-Post", "<https://groups.google.com/group/hiking-graz/post>"),
                ("List-Unsubscribe", "<mailto:hiking-graz+unsubscribe@googlegroups.com>"),
                ("Precedence", "list"),
                ("To", "hiking-graz@googlegroups.com"),
            ]
        elif v == 3:
            hs = [
                ("X-Mailing-List", "linux-kernel@vger.kernel.org"),
                ("List-Id", "<linux-kernel.vger.kernel.org>"),
                ("List-Subscribe", "<mailto:linux-kernel+subscribe@vger.kernel.org>"),
                ("List-Unsubscribe", "<mailto:linux-kernel+unsubscribe@vger.kernel.org>"),
                ("To", "linux-mm@kvack.org"),
                ("Cc", f"linux-kernel@vger.kernel.org, {OWNER}"),
            ]
        elif v == 4:
            hs = [
                ("List-Id", "<sympa-users.lists.sympa.community>"),
                ("X-Sympa-To", "sympa-users@lists.sympa.community"),
                ("X-Loop", "sympa-users@lists"),
                ("List-Post", "<mailto:sympa-users@lists.sympa.community>"),
                ("Precedence", "list"),
                ("To", "sympa-users@lists.sympa.community"),
            ]
        else:
            hs = [
                ("List-Id", "Vorstand TSV <vorstand.tsv.groups.io>"),
                ("List-Post", "<mailto:vorstand@tsv.groups.io>"),
                ("List-Unsubscribe", "<mailto:vorstand+unsubscribe@tsv.groups.io>"),
                ("X-Mailer", "groups.io"),
                ("Precedence", "list"),
                ("Sender", "vorstand@tsv.groups.io"),
                ("To", "vorstand@tsv.groups.io"),
            ]
        yield Sample(
            f"list_{v}_{i:02d}",
            (
                ("From", f"{name} <{addr}>"),
                ("Subject", subject),
                ("Date", date(2400 + i)),
                ("Message-ID", mid(addr.partition("@")[2], "list", i)),
                *hs,
                text_plain(),
            ),
            "list",
            False,
            (addr,),
            "list: a post to a discussion list by a person",
        )


def spam() -> Iterator[Sample]:
    rows = [
        (
            "PayPal Service <service@paypa1-secure.example>",
            "Re: Your account has been limited",
            [
                ("To", "undisclosed-recipients:;"),
                (
                    "Authentication-Results",
                    "mx1.example.com; spf=fail smtp.mailfrom=paypa1-secure.example;"
                    " dkim=none; dmarc=fail header.from=paypa1-secure.example",
                ),
            ],
            "phishing: look-alike domain, failed SPF/DMARC, fake Re:",
        ),
        (
            "Microsoft 365 <no-reply@office365-mailbox-verify.example>",
            "Action required: your mailbox is full",
            [
                ("To", OWNER),
                (
                    "Authentication-Results",
                    "mx1.example.com; spf=softfail; dkim=none;"
                    " dmarc=none header.from=office365-mailbox-verify.example",
                ),
            ],
            "phishing: a brand's name from a domain that is not the brand's",
        ),
        (
            "DHL Express <info@dhl-paket-zustellung.example>",
            "Ihr Paket konnte nicht zugestellt werden",
            [
                ("To", OWNER),
                ("X-Spam-Status", "Yes, score=7.9 required=5.0 tests=BAYES_99,URIBL_BLACK"),
                ("X-Spam-Flag", "YES"),
            ],
            "spam: SpamAssassin verdict on a fake carrier",
        ),
        (
            "Mrs. Sarah Williams <sarah.williams1958@outlook.com>",
            "Dear Friend",
            [("To", "undisclosed-recipients:;"), ("Reply-To", "sarahwilliams.lawyer@gmail.com")],
            "spam: advance-fee fraud to undisclosed recipients, replies diverted to a freemail address",  # noqa: E501
        ),
        (
            "Crypto Profits <news@bitprofit-now.example>",
            "You've earned 2.41 BTC",
            [("To", OWNER), ("X-Spam", "Yes"), ("X-Rspamd-Score", "12.4")],
            "spam: rspamd verdict",
        ),
        (
            "Winner Dept <winner@prizes-intl.example>",
            "Congratulations! You won",
            [
                ("To", OWNER),
                ("X-MS-Exchange-Organization-SCL", "9"),
                ("X-Forefront-Antispam-Report", "SFV:SPM;SCL:9"),
            ],
            "spam: Exchange SCL 9",
        ),
        (
            "Docusign <dse@docusign-secure-envelope.example>",
            "Please review: Payment_Invoice.pdf",
            [
                ("To", OWNER),
                (
                    "Authentication-Results",
                    "mx1.example.com; spf=fail; dkim=fail;"
                    " dmarc=fail header.from=docusign-secure-envelope.example",
                ),
            ],
            "phishing: a fake Docusign domain with failing authentication",
        ),
        (
            "Jamie Lee <ceo.jamie.lee@gmail-office.example>",
            "Re: urgent wire transfer",
            [
                ("To", OWNER),
                ("Reply-To", "jamie.lee.ceo@protonmail.example"),
                ("Authentication-Results", "mx1.example.com; spf=fail; dkim=none; dmarc=fail"),
            ],
            "phishing: CEO fraud with a fake Re: and failing authentication",
        ),
        (
            "Ray-Ban Outlet <sale@rayban-outlet-store.example>",
            "Ray-Ban 90% OFF",
            [
                ("To", "undisclosed-recipients:;"),
                ("X-Spam-Flag", "YES"),
                ("X-Spam-Level", "**********"),
            ],
            "spam: fake outlet, flagged by SpamAssassin",
        ),
        (
            "Apple Support <support@apple-id-locked.example>",
            "Your Apple ID has been locked",
            [
                ("To", OWNER),
                (
                    "Authentication-Results",
                    "mx1.example.com; spf=fail; dkim=none;"
                    " dmarc=fail header.from=apple-id-locked.example",
                ),
            ],
            "phishing: Apple's name from a look-alike domain",
        ),
        (
            "Netflix <info@netflix-billing-update.example>",
            "Your membership is on hold",
            [("To", OWNER), ("X-MS-Exchange-Organization-SCL", "6")],
            "spam: Exchange SCL 6",
        ),
        (
            "SEO Expert <seo.expert.4411@gmail.com>",
            "Re: Your website ranking",
            [("To", OWNER), ("X-Spam-Status", "Yes, score=5.3 required=5.0")],
            "spam: SpamAssassin verdict on cold SEO pitch with a fake Re:",
        ),
        (
            "Lonely Girl <anna1999@mail-ru.example>",
            "hi dear",
            [("To", "undisclosed-recipients:;")],
            "spam: dating scam to undisclosed recipients; freemail-like look-alike domain",
        ),
        (
            "Amazon <account-update@amazon-security-check.example>",
            "Your Amazon account is suspended",
            [
                ("To", OWNER),
                (
                    "Authentication-Results",
                    "mx1.example.com; spf=none; dkim=none; dmarc=none; compauth=fail reason=001",
                ),
            ],
            "phishing: Amazon's name from another domain, authentication fails",
        ),
    ]
    for i, (from_, subject, extra, why) in enumerate(rows):
        yield Sample(
            f"spam_{i:02d}",
            (
                ("From", from_),
                ("Subject", subject),
                ("Date", date(2500 + i)),
                ("Message-ID", f"<{token('spam', i)}@{from_.rpartition('@')[2].rstrip('>')}>"),
                ("MIME-Version", "1.0"),
                alternative(("spam", i)),
                *extra,
            ),
            "spam",
            False,
            (),
            why,
        )
    name, addr = PEOPLE[4]
    yield Sample(
        "spam_junk_folder",
        (
            ("From", "Cheap Meds <pharmacy@meds-online.example>"),
            ("To", OWNER),
            ("Subject", "Save 80%"),
            ("Date", date(2520)),
            ("Message-ID", "<junk-1@meds-online.example>"),
        ),
        "spam",
        False,
        (),
        "spam: the provider put it in Junk",
        folder_role="junk",
    )
    yield Sample(
        "spam_label_person_lookalike",
        (
            ("From", f"{name} <{addr}>"),
            ("To", OWNER),
            ("Subject", "check this"),
            ("Date", date(2521)),
            ("Message-ID", "<junk-2@icloud.com>"),
        ),
        "spam",
        False,
        (),
        "spam: Gmail labelled it SPAM (a hijacked account)",
        labels=frozenset({"SPAM"}),
    )


def machine_samples() -> list[Sample]:
    return [
        *system_mail(),
        *monitors(),
        *bounces(),
        *auto_replies(),
        *lists(),
        *spam(),
        *more_machines(),
    ]


def more_machines() -> Iterator[Sample]:
    name, addr = PEOPLE[5]
    yield Sample(
        "list_google_groups_rewritten",
        (
            ("From", f"'{name}' via Hiking Graz <hiking-graz@googlegroups.com>"),
            ("Reply-To", f"{name} <{addr}>"),
            ("To", "hiking-graz@googlegroups.com"),
            ("Subject", "Re: Sunday route"),
            ("Date", date(2600)),
            ("Message-ID", "<gg-1@mail.gmail.com>"),
            (
                "Mailing-list",
                "list hiking-graz@googlegroups.com; contact hiking-graz+owners@googlegroups.com",
            ),
            ("List-ID", "<hiking-graz.googlegroups.com>"),
            ("X-Google-Group-Id", "771234"),
            ("List-Post", "<https://groups.google.com/group/hiking-graz/post>"),
            ("Precedence", "list"),
            text_plain(),
        ),
        "list",
        False,
        ("hiking-graz@googlegroups.com",),
        "list: Google Groups rewrote the From for DMARC; the group's address is what it shows",
    )
    for i, scl in enumerate(("5", "7")):
        yield Sample(
            f"spam_scl_{scl}",
            (
                ("From", f"Promo Center <promo{i}@mailer-cheap.example>"),
                ("To", OWNER),
                ("Subject", "You have (1) pending delivery"),
                ("Date", date(2610 + i)),
                ("Message-ID", f"<scl{i}@mailer-cheap.example>"),
                ("X-MS-Exchange-Organization-SCL", scl),
                alternative(("scl", i)),
            ),
            "spam",
            False,
            (),
            f"spam: Exchange Online Protection scored it SCL {scl}",
        )
    yield Sample(
        "spam_forefront_spm",
        (
            ("From", "Secure Docs <docs@share-file-online.example>"),
            ("To", OWNER),
            ("Subject", "Shared document: Q1 Payment.pdf"),
            ("Date", date(2612)),
            ("Message-ID", "<spm@share-file-online.example>"),
            (
                "X-Forefront-Antispam-Report",
                "CIP:203.0.113.9;CTRY:RU;LANG:en;SCL:8;SRV:;IPV:NLI;SFV:SPM;",
            ),
        ),
        "spam",
        False,
        (),
        "spam: Exchange's anti-spam report says SCL 8",
    )
    yield Sample(
        "bounce_exchange_ndr_relay",
        (
            (
                "From",
                "Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.example>",  # noqa: E501
            ),
            ("To", OWNER),
            ("Subject", "Undeliverable: Meeting notes"),
            ("Date", date(2613)),
            ("Message-ID", "<ndr-2@contoso.example>"),
            ("Return-Path", "<>"),
            ("Content-Type", 'multipart/report; report-type=delivery-status; boundary="_000_"'),
            ("X-MS-Exchange-Message-Is-Ndr", ""),
            ("Auto-Submitted", "auto-replied"),
        ),
        "bounce",
        False,
        (),
        "bounce: an Exchange NDR from the recipient's organisation",
    )
    yield Sample(
        "auto_reply_zimbra",
        (
            ("From", f"{PEOPLE[6][0]} <{PEOPLE[6][1]}>"),
            ("To", OWNER),
            ("Subject", "Out of Office Reply"),
            ("Date", date(2614)),
            ("Message-ID", "<zimbra-oof@novak-design.example>"),
            ("Auto-Submitted", "auto-replied (zimbra; vacation)"),
            ("Precedence", "bulk"),
            text_plain(),
        ),
        "auto_reply",
        False,
        (PEOPLE[6][1],),
        "auto_reply: a Zimbra vacation reply",
    )
    yield Sample(
        "auto_reply_freshdesk_ack",
        (
            ("From", "Tiny SaaS Support <support@tinysaas.freshdesk.com>"),
            ("To", OWNER),
            ("Subject", "Ticket Received - Export to CSV fails"),
            ("Date", date(2615)),
            ("Message-ID", "<fd-1@tinysaas.freshdesk.com>"),
            ("Auto-Submitted", "auto-generated"),
            ("X-Auto-Response-Suppress", "All"),
            text_plain(),
        ),
        "notification",
        False,
        (),
        "notification: a help desk's ticket receipt",
    )
    yield Sample(
        "notification_apple_receipt_ses",
        (
            ("From", "App Store <no_reply@email.apple.com>"),
            ("To", OWNER),
            ("Subject", "Your subscription is confirmed"),
            ("Date", date(2616)),
            ("Message-ID", mid("email.apple.com", "sub")),
            alternative("sub"),
        ),
        "notification",
        False,
        (),
        "notification: Apple's receipt system",
    )
    yield Sample(
        "calendar_outlook_cancel",
        (
            ("From", f"{PEOPLE[7][0]} <{PEOPLE[7][1]}>"),
            ("To", OWNER_TO),
            ("Subject", "Canceled: Budget review"),
            ("Date", date(2617)),
            ("Message-ID", mid("yahoo.com", "cancel")),
            ("Content-Type", 'multipart/alternative; boundary="x"'),
        ),
        "calendar",
        False,
        (PEOPLE[7][1],),
        "calendar: an organiser cancels a meeting",
        body="--x\r\nContent-Type: text/plain\r\n\r\ncanceled\r\n--x\r\nContent-Type: text/calendar; method=CANCEL\r\n\r\nBEGIN:VCALENDAR\r\n",  # noqa: E501
    )
