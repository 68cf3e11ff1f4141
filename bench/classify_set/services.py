"""Mail from services: documents and e-signature, collaboration tools, shops, carriers,
banks, travel, social networks, newsletters and marketing."""

from __future__ import annotations

from collections.abc import Iterator

from .common import OWNER, OWNER_TO, PEOPLE, Sample, alternative, auth, date, mid, token


def _svc(
    i: int,
    from_: str,
    subject: str,
    domain: str,
    extra: list[tuple[str, str]],
    message_id: str | None = None,
    to: str = OWNER_TO,
) -> tuple[tuple[str, str], ...]:
    return (
        (
            "Return-Path",
            [
                f"<bounces+{token(domain, i, n=8)}@{domain}>",
                f"<msprvs1=19{token(i, n=6)}=bounces-{i}@{domain}>",
                f"<no-reply@{domain}>",
            ][i % 3],
        ),
        auth(domain, mailfrom=f"bounces@{domain}"),
        ("From", from_),
        ("To", to),
        ("Subject", subject),
        ("Date", date(1000 + i)),
        ("Message-ID", message_id or mid(domain, from_, i)),
        ("MIME-Version", "1.0"),
        *extra,
        *([] if any(n == "Content-Type" for n, _ in extra) else [alternative((from_, i))]),
    )


def _note(kind: str, why: str) -> str:
    return f"{kind}: {why}"


GOOGLE = [
    ("X-Google-Smtp-Source", "AGHT+IFq3"),
    ("X-Notifications", "GAMMA:<f7a1.c9d@docs.google.com>"),
    ("X-Notifications-Bounce-Info", "AXqg2Mv"),
]


def relayed_people() -> Iterator[Sample]:
    """A service relays what a person did; the person is named, but the mail is the service's."""
    for i, (name, addr) in enumerate(PEOPLE[:16]):
        first = name.split()[0]
        v = i % 8
        if v == 0:
            s = _svc(
                i,
                f'"{name} (Google Docs)" <comments-noreply@docs.google.com>',
                f'{name} mentioned you in "Q2 plan"',
                "docs.google.com",
                [
                    ("Reply-To", f'"{name}" <d+AORGpRf{token(i, n=10)}@docs.google.com>'),
                    *GOOGLE,
                    ("Feedback-ID", "docos:google"),
                ],
            )
            why = "Google Docs comment, From the comments-noreply address, in the person's name"
        elif v == 1:
            s = _svc(
                i,
                f'"{name} (via Google Drive)" <drive-shares-dm-noreply@google.com>',
                f'Document shared with you: "Budget {2024 + i % 2}"',
                "google.com",
                [("Reply-To", f"{name} <{addr}>"), *GOOGLE],
            )
            why = "Drive share: a noreply service address; Reply-To is the person"
        elif v == 2:
            s = _svc(
                i,
                f'"{name} via Docusign" <dse_NA3@docusign.net>',
                "Complete with Docusign: Engagement_Letter.pdf",
                "docusign.net",
                [("Reply-To", f"{name} <{addr}>"), ("X-DocuSign-Envelope", token(i, n=24))],
            )
            why = "Docusign envelope sent on behalf of a person"
        elif v == 3:
            s = _svc(
                i,
                f'"{name} via Dropbox Sign" <noreply@mail.hellosign.com>',
                f"{name} has requested your signature on NDA.pdf",
                "mail.hellosign.com",
                [
                    ("Reply-To", f"{name} <{addr}>"),
                    ("Feedback-ID", "1:hellosign:sendgrid"),
                    ("X-SG-EID", token(i, n=30)),
                ],
            )
            why = "Dropbox Sign signature request relaying a person"
        elif v == 4:
            s = _svc(
                i,
                f"{name} <no-reply@sharepointonline.com>",
                f'{name} shared the folder "Offsite 2024" with you',
                "sharepointonline.com",
                [("X-MS-Exchange-Organization-SCL", "1"), ("X-Auto-Response-Suppress", "All")],
                message_id=mid("sharepointonline.com", i, style="outlook"),
            )
            why = "SharePoint/OneDrive share: display name is the person, the address no-reply"
        elif v == 5:
            s = _svc(
                i,
                f'"{name} via LinkedIn" <messaging-digest-noreply@linkedin.com>',
                f"{first} sent you a new message",
                "linkedin.com",
                [
                    ("List-Unsubscribe", "<https://www.linkedin.com/e/v2?e=abc&a=unsub>"),
                    ("X-LinkedIn-Class", "INMAIL"),
                    ("X-LinkedIn-Template", "messaging_digest"),
                    ("Feedback-ID", "messaging_digest:linkedin"),
                ],
            )
            why = "LinkedIn relays a message: the person is on LinkedIn, the mail is LinkedIn's"
        elif v == 6:
            s = _svc(
                i,
                f'"{name} (via Adobe Acrobat Sign)" <adobesign@adobesign.com>',
                f"{name} has sent you Contract_{i}.pdf to sign",
                "adobesign.com",
                [("Reply-To", f"{name} <{addr}>"), ("X-Mailer", "Adobe Sign")],
            )
            why = "Adobe Acrobat Sign on behalf of a person; the sending address is the service's"
        else:
            s = _svc(
                i,
                f'"{name} (Google Calendar)" <calendar-notification@google.com>',
                f'{first} commented on "Planning"',
                "google.com",
                [*GOOGLE],
            )
            why = "Google Calendar note about a person's event comment"
        yield Sample(
            f"relayed_{v}_{i:02d}", s, "notification", False, (), _note("notification", why)
        )


def collaboration() -> Iterator[Sample]:
    rows = [
        (
            "GitHub",
            '"Jamie Lee" <notifications@github.com>',
            "Re: [acme/widgets] Fix crash (PR #412)",
            "github.com",
            [
                ("X-GitHub-Reason", "review_requested"),
                ("X-GitHub-Sender", "jlee"),
                ("List-ID", "acme/widgets <widgets.acme.github.com>"),
                ("List-Archive", "https://github.com/acme/widgets"),
                ("List-Unsubscribe", "<mailto:unsub+abc@reply.github.com>"),
                ("Reply-To", "acme/widgets <reply+ABC@reply.github.com>"),
                ("Precedence", "list"),
                ("X-Auto-Response-Suppress", "All"),
            ],
        ),
        (
            "GitHub",
            "GitHub <noreply@github.com>",
            "[GitHub] A third-party OAuth application has been added",
            "github.com",
            [("X-Auto-Response-Suppress", "All")],
        ),
        (
            "GitLab",
            '"Mei Chen (@mchen)" <gitlab@gitlab.com>',
            "Re: infra | Pipeline failed (#88)",
            "gitlab.com",
            [
                ("X-GitLab-Project", "infra"),
                ("X-GitLab-NotificationReason", "mentioned"),
                ("List-Id", "acme/infra <24.infra.acme.gitlab.com>"),
                ("Auto-Submitted", "auto-generated"),
            ],
        ),
        (
            "Jira",
            '"Daniel Kim (Jira)" <jira@acme.atlassian.net>',
            "[JIRA] (OPS-311) Rotate keys",
            "acme.atlassian.net",
            [
                ("X-JIRA-FingerPrint", "f7e1"),
                ("Auto-Submitted", "auto-generated"),
                ("X-Atlassian-Mail-Message-Id", "ff1"),
                ("Precedence", "bulk"),
            ],
        ),
        (
            "Confluence",
            '"Mei Chen (Confluence)" <confluence@acme.atlassian.net>',
            '[Confluence] Mei Chen mentioned you on "Runbook"',
            "acme.atlassian.net",
            [("Auto-Submitted", "auto-generated"), ("X-Atlassian-Mail-Type", "mention")],
        ),
        (
            "Slack",
            "Slack <no-reply@slack.com>",
            "[Slack] New messages from Priya Raman in Acme",
            "slack.com",
            [
                ("Feedback-ID", "notification:slack"),
                ("List-Unsubscribe", "<https://slack.com/unsub>"),
                ("X-Slack-Type", "notification"),
            ],
        ),
        (
            "Teams",
            "Microsoft Teams <noreply@email.teams.microsoft.com>",
            "You have 3 missed messages from Daniel Kim",
            "email.teams.microsoft.com",
            [("X-MS-Exchange-Organization-SCL", "1")],
        ),
        (
            "Trello",
            "Trello <do-not-reply@trello.com>",
            "Priya Raman added you to the card Launch",
            "trello.com",
            [("X-Trello-Notification", "1"), ("Feedback-ID", "notification:trello")],
        ),
        (
            "Asana",
            '"Sam Taylor (Asana)" <no-reply@asana.com>',
            "Sam Taylor assigned a task to you",
            "asana.com",
            [("X-Asana-Notification", "task_assigned")],
        ),
        (
            "Notion",
            "Notion Team <notify@mail.notion.so>",
            "Priya Raman invited you to a page",
            "mail.notion.so",
            [("Feedback-ID", "ses"), ("X-SES-Outgoing", "2024.03.05-54.240.8.1")],
        ),
        (
            "Figma",
            "Figma <no-reply@figma.com>",
            "Mei Chen replied to your comment",
            "figma.com",
            [("X-SG-EID", "abc")],
        ),
        (
            "Zoom",
            "Zoom <no-reply@zoom.us>",
            "Cloud Recording - Weekly sync is now available",
            "zoom.us",
            [("X-Zoom-Notification", "recording")],
        ),
        (
            "Calendly",
            "Calendly <notifications@calendly.com>",
            "New Event: Priya Raman - 10:00am Tue, Mar 12, 2024 - 30 Minute Meeting",
            "calendly.com",
            [("Reply-To", f"Priya Raman <{PEOPLE[1][1]}>"), ("X-Mailgun-Sid", "WyI1Y")],
        ),
        (
            "Dropbox",
            "Dropbox <no-reply@dropbox.com>",
            'Ravi Patel shared "Holiday" with you',
            "dropbox.com",
            [("Reply-To", f"Ravi Patel <{PEOPLE[11][1]}>"), ("X-Dropbox-Notification", "share")],
        ),
        (
            "Discord",
            "Discord <notifications@discord.com>",
            "You have a new friend request",
            "discord.com",
            [("X-SG-EID", "abc"), ("List-Unsubscribe", "<https://discord.com/u>")],
        ),
        (
            "Facebook",
            "Facebook <notification@facebookmail.com>",
            "Amara Okafor commented on your post",
            "facebookmail.com",
            [
                ("X-Facebook-Notify", "feed_comment"),
                ("List-Unsubscribe", "<https://facebook.com/u>"),
                ("Feedback-ID", "0:feed_comment:Facebook"),
            ],
        ),
        (
            "Meetup",
            "Meetup <info@email.meetup.com>",
            "New event: Python Night #42",
            "email.meetup.com",
            [("List-Unsubscribe", "<https://meetup.com/u>"), ("X-Mailgun-Tag", "event_announce")],
        ),
        (
            "Zendesk",
            "Tiny SaaS Support <support@tinysaas.zendesk.com>",
            "[Tiny SaaS] Re: Export to CSV fails",
            "tinysaas.zendesk.com",
            [
                ("X-Mailer", "Zendesk Mailer"),
                ("Auto-Submitted", "auto-generated"),
                ("X-Zendesk-From-Account-Id", "123"),
            ],
        ),
    ]
    for i, (svc, from_, subject, domain, extra) in enumerate(rows):
        yield Sample(
            f"collab_{svc.lower()}_{i:02d}",
            _svc(40 + i, from_, subject, domain, extra),
            "notification",
            False,
            (),
            _note("notification", f"{svc} notification"),
        )


def transactional() -> Iterator[Sample]:
    ses = [
        ("X-SES-Outgoing", "2024.03.05-54.240.1.1"),
        ("Feedback-ID", "1.us-east-1.Bp1:AmazonSES"),
    ]
    rows = [
        (
            "Amazon.de <versandbestaetigung@amazon.de>",
            "Versandbestätigung: Ihre Bestellung",
            "amazon.de",
            ses,
            "ses",
        ),
        (
            "Amazon.com <shipment-tracking@amazon.com>",
            "Your Amazon.com order has shipped (#112-1)",
            "amazon.com",
            ses,
            "ses",
        ),
        (
            "Amazon.com <auto-confirm@amazon.com>",
            'Your Amazon.com order of "USB-C cable"',
            "amazon.com",
            ses,
            "ses",
        ),
        (
            "UPS <mcinfo@ups.com>",
            "UPS Update: Package Scheduled for Delivery Today",
            "ups.com",
            [("X-Mailer", "SubscriptionCenter")],
            None,
        ),
        ("DHL Paket <noreply@dhl.de>", "Ihre DHL Sendung kommt heute", "dhl.de", [], None),
        (
            "FedEx <TrackingUpdates@fedex.com>",
            "FedEx Shipment 7712 Delivered",
            "fedex.com",
            [("X-Mailer", "FedEx Notifications")],
            None,
        ),
        (
            "USPS Informed Delivery <USPSInformeddelivery@email.informeddelivery.usps.com>",
            "Your Daily Digest for Tue, 3/5",
            "email.informeddelivery.usps.com",
            [("List-Unsubscribe", "<https://informeddelivery.usps.com/unsub>")],
            None,
        ),
        (
            "Royal Mail <no-reply@royalmail.com>",
            "Your parcel is on its way",
            "royalmail.com",
            [],
            None,
        ),
        (
            "Hermes <info@myhermes.de>",
            "Deine Sendung ist unterwegs",
            "myhermes.de",
            [("Feedback-ID", "hermes:transactional")],
            None,
        ),
        (
            "Acme Inc <invoice+statements+acct_1Mz@stripe.com>",
            "Your receipt from Acme Inc #1904",
            "stripe.com",
            [("X-Stripe-Email", "receipt")],
            None,
        ),
        (
            "PayPal <service@paypal.de>",
            "Sie haben eine Zahlung an Noah Williams gesendet",
            "paypal.de",
            [("X-Email-Type-Id", "PPC000654")],
            None,
        ),
        ("Chase <no.reply.alerts@chase.com>", "Your payment is scheduled", "chase.com", [], None),
        (
            "N26 <no-reply@n26.com>",
            "Your monthly statement is ready",
            "n26.com",
            [("Feedback-ID", "statements:n26")],
            None,
        ),
        (
            "Uber Receipts <noreply@uber.com>",
            "Your Tuesday evening trip with Uber",
            "uber.com",
            [("X-Mailgun-Sid", "abc")],
            None,
        ),
        (
            "Lufthansa <online@booking-lufthansa.com>",
            "Your booking confirmation LH 400",
            "booking-lufthansa.com",
            [],
            None,
        ),
        (
            "Booking.com <noreply@booking.com>",
            "Your booking is confirmed at Hotel Adler",
            "booking.com",
            [("Feedback-ID", "confirm:booking")],
            None,
        ),
        (
            "Deutsche Bahn <buchungsbestaetigung@bahn.de>",
            "Ihre Buchungsbestätigung",
            "bahn.de",
            [],
            None,
        ),
        (
            "Airbnb <automated@airbnb.com>",
            "Reservation confirmed for Lisbon",
            "airbnb.com",
            [("X-SG-EID", "abc")],
            None,
        ),
        (
            "Google <no-reply@accounts.google.com>",
            "Security alert",
            "accounts.google.com",
            [*GOOGLE],
            None,
        ),
        (
            "Microsoft account team <account-security-noreply@accountprotection.microsoft.com>",
            "Microsoft account security code",
            "accountprotection.microsoft.com",
            [],
            None,
        ),
        (
            "Apple <no_reply@email.apple.com>",
            "Your receipt from Apple.",
            "email.apple.com",
            [],
            None,
        ),
        (
            "AWS Notifications <no-reply@sns.amazonaws.com>",
            'ALARM: "cpu-high" in EU (Frankfurt)',
            "sns.amazonaws.com",
            [("X-SES-Outgoing", "x")],
            None,
        ),
        (
            "Google Payments <payments-noreply@google.com>",
            "Your Google Workspace invoice",
            "google.com",
            [*GOOGLE],
            None,
        ),
        (
            "Vodafone <rechnung@vodafone.de>",
            "Ihre Rechnung für März",
            "vodafone.de",
            [("Feedback-ID", "rechnung:vodafone")],
            None,
        ),
        (
            "Stadtwerke <kundenservice@stadtwerke-muenster.example>",
            "Ihre Abschlagsrechnung",
            "stadtwerke-muenster.example",
            [("X-Mailer", "SAP NetWeaver 7.50")],
            None,
        ),
        (
            "Etsy <transaction@etsy.com>",
            "Your Etsy Purchase from WoodCraftShop (#3100)",
            "etsy.com",
            [("X-Mailgun-Tag", "receipt")],
            None,
        ),
        ("eBay <ebay@ebay.com>", "Your order is confirmed", "ebay.com", [], None),
        (
            "Shop Team <orders@fernweh-books.example>",
            "Order #1042 confirmed",
            "fernweh-books.example",
            [("X-Shopify-Shop-Id", "5512"), ("Feedback-ID", "1:shopify")],
            None,
        ),
        (
            "IKEA <noreply@order.ikea.com>",
            "Ihre Bestellung 1234 ist bestätigt",
            "order.ikea.com",
            [],
            None,
        ),
        (
            "Zalando <info@service-mail.zalando.de>",
            "Deine Bestellung ist unterwegs",
            "service-mail.zalando.de",
            [("Feedback-ID", "transactional:zalando")],
            None,
        ),
        (
            "Revolut <no-reply@revolut.com>",
            "Card payment declined",
            "revolut.com",
            [("X-Mailgun-Sid", "x")],
            None,
        ),
        (
            "Doctolib <no-reply@doctolib.de>",
            "Terminerinnerung: morgen 10:30",
            "doctolib.de",
            [],
            None,
        ),
        (
            "1Password <hello@1password.com>",
            "New sign-in to your account",
            "1password.com",
            [("X-SES-Outgoing", "x")],
            None,
        ),
        ("Dropbox <no-reply@dropbox.com>", "Your Dropbox is almost full", "dropbox.com", [], None),
        (
            "HR Portal <workday@myworkday.com>",
            "Your payslip is available",
            "myworkday.com",
            [("Auto-Submitted", "auto-generated")],
            None,
        ),
        (
            "Steuerberater Portal <noreply@datev.de>",
            "Neues Dokument verfügbar",
            "datev.de",
            [],
            None,
        ),
    ]
    for i, (from_, subject, domain, extra, style) in enumerate(rows):
        message_id = mid(domain, i, style=style) if style else None
        yield Sample(
            f"txn_{i:02d}",
            _svc(100 + i, from_, subject, domain, list(extra), message_id),
            "notification",
            False,
            (),
            _note("notification", "transactional mail from a service"),
        )


def calendar_services() -> Iterator[Sample]:
    for i, (name, addr) in enumerate(PEOPLE[:10]):
        v = i % 5
        if v == 0:
            hs = (
                ("From", f"{name} <{addr}>"),
                ("Sender", "Google Calendar <calendar-notification@google.com>"),
                ("Reply-To", f"{name} <{addr}>"),
                ("To", OWNER),
                ("Subject", f"Invitation: Planning @ Tue Mar 12, 2024 10am - 11am (CET) ({OWNER})"),
                ("Date", date(1200 + i)),
                ("Message-ID", mid("google.com", "inv", i)),
                ("Content-Type", 'multipart/mixed; boundary="000000000000abc"'),
            )
            yield Sample(
                f"cal_google_invite_{i}",
                hs,
                "calendar",
                False,
                (addr,),
                "calendar: Google invitation From the organiser, Sender Google Calendar",
                body="--b\r\n" + _cal_parts("REQUEST", True),
            )
        elif v == 1:
            hs = (
                ("From", f"{name} <{addr}>"),
                ("To", OWNER_TO),
                ("Subject", "Accepted: Planning"),
                ("Date", date(1200 + i)),
                ("Message-ID", mid("outlook.com", "acc", i, style="outlook")),
                ("Thread-Topic", "Planning"),
                ("Content-Class", "urn:content-classes:calendarmessage"),
                ("Content-Type", 'multipart/alternative; boundary="_000_"'),
            )
            yield Sample(
                f"cal_outlook_accept_{i}",
                hs,
                "calendar",
                False,
                (addr,),
                "calendar: an attendee's Outlook response (method=REPLY)",
                body=_cal_parts("REPLY"),
            )
        elif v == 2:
            hs = (
                ("From", f"{name} <{addr}>"),
                ("To", OWNER_TO),
                ("Subject", "Quarterly review"),
                ("Date", date(1200 + i)),
                ("Message-ID", mid("outlook.com", "req", i, style="outlook")),
                ("Thread-Topic", "Quarterly review"),
                ("Content-Type", 'multipart/alternative; boundary="_000_"'),
            )
            yield Sample(
                f"cal_outlook_request_{i}",
                hs,
                "calendar",
                False,
                (addr,),
                "calendar: an Outlook meeting request (subject is just the title)",
                body=_cal_parts("REQUEST"),
            )
        elif v == 3:
            hs = (
                ("From", "Google Calendar <calendar-notification@google.com>"),
                ("To", OWNER),
                ("Subject", "Notification: Dentist @ Wed Mar 13, 2024 9am - 10am (CET)"),
                ("Date", date(1200 + i)),
                ("Message-ID", mid("google.com", "rem", i)),
                ("Reply-To", "Google Calendar <calendar-notification@google.com>"),
                *GOOGLE,
                ("Content-Type", 'multipart/alternative; boundary="000"'),
            )
            yield Sample(
                f"cal_google_reminder_{i}",
                hs,
                "calendar",
                False,
                (),
                "calendar: a reminder of the owner's own event from Google Calendar",
            )
        else:
            hs = (
                ("From", f"{name} <{addr}>"),
                ("Sender", "Google Calendar <calendar-notification@google.com>"),
                ("To", OWNER),
                ("Subject", "Updated invitation with note: Planning @ Thu Mar 14, 2024"),
                ("Date", date(1200 + i)),
                ("Message-ID", mid("google.com", "upd", i)),
                ("Content-Type", 'multipart/mixed; boundary="000000000000abd"'),
            )
            yield Sample(
                f"cal_google_update_{i}",
                hs,
                "calendar",
                False,
                (addr,),
                "calendar: an updated Google invitation",
                body="--b\r\n" + _cal_parts("REQUEST", True),
            )


def _cal_parts(method: str, attach: bool = False) -> str:
    out = (
        'Content-Type: text/plain; charset="UTF-8"\r\n\r\nPlanning\r\n'
        f'--b\r\nContent-Type: text/calendar; charset="utf-8"; method={method}\r\n\r\n'
        "BEGIN:VCALENDAR\r\n"
    )
    if attach:
        out += '--b\r\nContent-Type: application/ics; name="invite.ics"\r\n\r\nBEGIN:VCALENDAR\r\n'
    return out


NEWSLETTER_ROWS = [
    (
        "Lenny's Newsletter <lenny@substack.com>",
        "How the best PMs prioritise",
        "substack.com",
        [
            ("List-Unsubscribe", "<https://lenny.substack.com/action/disable_email>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("X-Mailgun-Tag", "post"),
            ("List-Id", "<lenny.substack.com>"),
        ],
    ),
    (
        "The Pragmatic Engineer <pragmaticengineer+deepdives@substack.com>",
        "The Pulse #84: layoffs, AI and hiring",
        "substack.com",
        [("List-Unsubscribe", "<https://x.substack.com/u>"), ("List-Id", "<x.substack.com>")],
    ),
    (
        "Morning Brew <crew@morningbrew.com>",
        "☕ Tuesday brew: markets up",
        "morningbrew.com",
        [
            ("List-Unsubscribe", "<mailto:unsub@morningbrew.com>"),
            ("X-beehiiv-ids", "abc"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ],
    ),
    (
        "The Verge <newsletter@theverge.com>",
        "Installer No. 31: the best new apps",
        "theverge.com",
        [("List-Unsubscribe", "<https://theverge.com/u>"), ("X-SFMC-Stack", "7")],
    ),
    (
        "The New York Times <nytdirect@nytimes.com>",
        "The Morning: Tuesday's news",
        "nytimes.com",
        [
            ("List-Unsubscribe", "<mailto:u@nytimes.com>"),
            ("X-SFMC-Stack", "11"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ],
    ),
    (
        "Python Weekly <rahul@pythonweekly.com>",
        "Python Weekly - Issue 638",
        "pythonweekly.com",
        [
            ("List-Unsubscribe", "<https://pythonweekly.us2.list-manage.com/u>"),
            ("X-MC-User", "e2a"),
            ("X-Campaign", "mailchimpe2a.9f"),
            ("Precedence", "bulk"),
        ],
    ),
    (
        "heise online <newsletter@heise.de>",
        "heise-Newsletter vom 05.03.2024",
        "heise.de",
        [("List-Unsubscribe", "<https://heise.de/u>"), ("Precedence", "bulk")],
    ),
    (
        "Stratechery <email@stratechery.com>",
        "An Interview with Ben about AI",
        "stratechery.com",
        [("List-Unsubscribe", "<https://stratechery.com/u>"), ("X-Mailgun-Sid", "x")],
    ),
    (
        "Medium Daily Digest <noreply@medium.com>",
        "The 5 habits of great writers | Jamie Lee",
        "medium.com",
        [
            ("List-Unsubscribe", "<https://medium.com/u>"),
            ("X-SG-EID", "abc"),
            ("Feedback-ID", "digest:medium"),
        ],
    ),
    (
        "Hacker Newsletter <kale@hackernewsletter.com>",
        "Hacker Newsletter #694",
        "hackernewsletter.com",
        [
            ("List-Unsubscribe", "<https://hackernewsletter.us1.list-manage.com/u>"),
            ("X-Mailchimp-Campaign-Id", "c1"),
            ("X-MC-User", "u1"),
        ],
    ),
    (
        "Quartz Daily Brief <hi@qz.com>",
        "Quartz Daily Brief — Tuesday",
        "qz.com",
        [("List-Unsubscribe", "<https://qz.com/u>"), ("X-Campaign-Id", "daily")],
    ),
    (
        "Bits of DNA <buttondown@bitsofdna.example>",
        "Bits of DNA #12: sequencing costs",
        "buttondown.email",
        [("List-Unsubscribe", "<https://buttondown.email/u>"), ("X-Buttondown-Email-Id", "e1")],
    ),
    (
        "Ghost Weekly <weekly@ghost.io>",
        "This week on Ghost",
        "ghost.io",
        [("List-Unsubscribe", "<https://ghost.io/u>"), ("X-Mailgun-Tag", "ghost-email")],
    ),
    (
        "Club Newsletter <news@tsv-sportverein.example>",
        "Vereinsnews März",
        "tsv-sportverein.example",
        [
            ("List-Unsubscribe", "<mailto:news-unsubscribe@tsv-sportverein.example>"),
            ("X-Mailer", "rapidmail"),
        ],
    ),
    (
        "Acme Engineering Blog <digest@acme-blog.example>",
        "Monthly digest: March",
        "acme-blog.example",
        [("List-Unsubscribe", "<https://acme-blog.example/u>"), ("Feedback-ID", "digest")],
    ),
    (
        "The Economist <newsletters@e.economist.com>",
        "The World in Brief",
        "e.economist.com",
        [("List-Unsubscribe", "<https://e.economist.com/u>"), ("X-SFMC-Stack", "4")],
    ),
    (
        "Smashing Magazine <newsletter@smashingmagazine.com>",
        "Smashing Newsletter: Issue #420",
        "smashingmagazine.com",
        [
            ("List-Unsubscribe", "<https://smashingmagazine.com/u>"),
            ("X-Mailchimp-Campaign-Id", "x"),
        ],
    ),
    (
        "LWN.net <lwn@lwn.net>",
        "LWN.net Weekly Edition for March 7, 2024",
        "lwn.net",
        [
            ("List-Id", "<lwn-weekly.lwn.net>"),
            ("List-Unsubscribe", "<https://lwn.net/u>"),
            ("Precedence", "bulk"),
        ],
    ),
    (
        "Product Hunt Daily <hello@digest.producthunt.com>",
        "Top products of the day",
        "digest.producthunt.com",
        [("List-Unsubscribe", "<https://producthunt.com/u>"), ("X-SG-EID", "abc")],
    ),
    (
        "University Alumni <alumni@uni-example.example>",
        "Alumni news: spring edition",
        "uni-example.example",
        [
            ("List-Unsubscribe", "<mailto:u@uni-example.example>"),
            ("Precedence", "bulk"),
            ("X-Mailer", "Mailjet"),
        ],
    ),
    (
        "Ravi's Reading List <ravi@buttondown.email>",
        "Issue 14: five books on cities",
        "buttondown.email",
        [("List-Unsubscribe", "<https://buttondown.email/u>")],
    ),
    (
        "Stack Overflow <do-not-reply@stackoverflow.email>",
        "Stack Overflow newsletter - Issue 210",
        "stackoverflow.email",
        [("List-Unsubscribe", "<https://stackoverflow.com/u>"), ("X-SG-EID", "x")],
    ),
]

MARKETING_ROWS = [
    (
        "Patagonia <patagonia@email.patagonia.com>",
        "New arrivals for spring",
        "email.patagonia.com",
        [("List-Unsubscribe", "<https://email.patagonia.com/u>"), ("X-SFMC-Stack", "10")],
    ),
    (
        "Zalando <info@newsletter.zalando.de>",
        "Bis zu 50 % Rabatt – nur heute",
        "newsletter.zalando.de",
        [
            ("List-Unsubscribe", "<https://zalando.de/u>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ],
    ),
    (
        "IKEA Family <ikea@news.email.ikea.de>",
        "Neu: Angebote für IKEA Family Mitglieder",
        "news.email.ikea.de",
        [("List-Unsubscribe", "<https://ikea.de/u>"), ("X-Campaign", "fam")],
    ),
    (
        "Allbirds <hello@allbirds.com>",
        "Last chance: free shipping ends tonight",
        "allbirds.com",
        [
            ("List-Unsubscribe", "<https://allbirds.com/u>"),
            ("X-Kmail-Message", "k1"),
            ("X-Klaviyo-Id", "k"),
        ],
    ),
    (
        "Uber Eats <uber@uber.com>",
        "30% off your next 3 orders",
        "uber.com",
        [("List-Unsubscribe", "<https://uber.com/u>"), ("X-Campaign-Id", "eats")],
    ),
    (
        "Spotify <no-reply@spotify.com>",
        "Premium: 3 months for €0",
        "spotify.com",
        [("List-Unsubscribe", "<https://spotify.com/u>"), ("X-Mailer", "Braze")],
    ),
    (
        "Fernweh Books <news@fernweh-books.example>",
        "Spring sale: 20% off everything",
        "fernweh-books.example",
        [
            ("List-Unsubscribe", "<https://fernweh-books.example/u>"),
            ("X-Mailchimp-Campaign-Id", "s1"),
            ("X-MC-User", "u"),
        ],
    ),
    (
        "Lidl <newsletter@mailing.lidl.de>",
        "Die Angebote der Woche",
        "mailing.lidl.de",
        [("List-Unsubscribe", "<https://lidl.de/u>"), ("Precedence", "bulk")],
    ),
    (
        "Booking.com <email.campaign@sg.booking.com>",
        "Getaway Deals: save 15%+",
        "sg.booking.com",
        [("List-Unsubscribe", "<https://booking.com/u>"), ("X-SG-EID", "x")],
    ),
    (
        "Apple <News@insideapple.apple.com>",
        "Say hello to the new MacBook Air",
        "insideapple.apple.com",
        [("List-Unsubscribe", "<https://apple.com/u>")],
    ),
    (
        "Nike <nike@official.nike.com>",
        "Members get it first: new Air Max",
        "official.nike.com",
        [("List-Unsubscribe", "<https://nike.com/u>"), ("X-SFMC-Stack", "50")],
    ),
    (
        "Best Shop Deals <deals@bestshop.example>",
        "⚡ Flash deal: 2 for 1",
        "bestshop.example",
        [("List-Unsubscribe", "<https://bestshop.example/u>"), ("X-Mailgun-Sid", "x")],
    ),
    (
        "Lufthansa <newsletter@newsletter.lufthansa.com>",
        "Fly to Lisbon from 99 €",
        "newsletter.lufthansa.com",
        [("List-Unsubscribe", "<https://lufthansa.com/u>"), ("X-Campaign", "lh")],
    ),
    (
        "Adobe <mail@mail.adobe.com>",
        "Save 40% on Creative Cloud",
        "mail.adobe.com",
        [("List-Unsubscribe", "<https://adobe.com/u>")],
    ),
    (
        "Wine Club Weinfreunde <service@weinfreunde.example>",
        "Unsere Weine des Monats – 25% sparen",
        "weinfreunde.example",
        [("List-Unsubscribe", "<mailto:u@weinfreunde.example>"), ("X-Mailer", "CleverReach")],
    ),
    (
        "Coursera <Coursera@m.learn.coursera.org>",
        "Get 50% off Coursera Plus",
        "m.learn.coursera.org",
        [("List-Unsubscribe", "<https://coursera.org/u>"), ("X-Campaign-Id", "c")],
    ),
    (
        "Decathlon <news@e.decathlon.de>",
        "Bis zu 40% auf Laufschuhe",
        "e.decathlon.de",
        [
            ("List-Unsubscribe", "<https://decathlon.de/u>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ],
    ),
    (
        "Marketing Team <marketing@saas-tool.example>",
        "Webinar: grow your pipeline",
        "saas-tool.example",
        [("List-Unsubscribe", "<https://saas-tool.example/u>"), ("X-HubSpot-Id", "h")],
    ),
    (
        "Hotels.com <Hotels.com@mail.hotels.com>",
        "Members save 10% or more",
        "mail.hotels.com",
        [("List-Unsubscribe", "<https://hotels.com/u>")],
    ),
    (
        "Etsy <etsy@mail.etsy.com>",
        "Picked for you: handmade gifts",
        "mail.etsy.com",
        [("List-Unsubscribe", "<https://etsy.com/u>"), ("X-SG-EID", "x")],
    ),
    (
        "MediaMarkt <newsletter@mediamarkt.de>",
        "Nur heute: Tiefpreise auf Fernseher",
        "mediamarkt.de",
        [("List-Unsubscribe", "<https://mediamarkt.de/u>")],
    ),
    (
        "Canva <marketing@engage.canva.com>",
        "Try Canva Pro free for 30 days",
        "engage.canva.com",
        [("List-Unsubscribe", "<https://canva.com/u>"), ("X-Mailer", "Iterable")],
    ),
]


def bulk() -> Iterator[Sample]:
    for i, (from_, subject, domain, extra) in enumerate(NEWSLETTER_ROWS):
        yield Sample(
            f"newsletter_{i:02d}",
            _svc(300 + i, from_, subject, domain, list(extra)),
            "newsletter",
            False,
            (),
            "newsletter: a publication (editorial content, issues) sent in bulk",
        )
    for i, (from_, subject, domain, extra) in enumerate(MARKETING_ROWS):
        yield Sample(
            f"marketing_{i:02d}",
            _svc(400 + i, from_, subject, domain, list(extra)),
            "marketing",
            False,
            (),
            "marketing: a brand or shop promoting products, offers or sales in bulk",
        )


def provider_labels() -> Iterator[Sample]:
    """Provider verdicts on otherwise plain-looking mail (Gmail categories, Outlook Other)."""
    plain = [
        (
            "Acme Events <events@acme-events.example>",
            "Save the date: Acme Summit",
            "acme-events.example",
        ),
        (
            "Jamie's Bakery <jamie@williams-bakery.example>",
            "Our Easter menu is here",
            "williams-bakery.example",
        ),
        ("City Library <library@city.example>", "Your loan is due in 3 days", "city.example"),
        ("Gym Club <team@gymclub.example>", "New classes in April", "gymclub.example"),
    ]
    for i, (from_, subject, domain) in enumerate(plain):
        label, kind = [
            ("CATEGORY_PROMOTIONS", "marketing"),
            ("CATEGORY_PROMOTIONS", "marketing"),
            ("CATEGORY_UPDATES", "notification"),
            ("CATEGORY_UPDATES", "notification"),
        ][i]
        yield Sample(
            f"label_{label.lower()}_{i}",
            _svc(500 + i, from_, subject, domain, []),
            kind,
            False,
            (),
            f"{kind}: Gmail files it under {label}",
            labels=frozenset({label, "INBOX"}),
        )
    name, addr = PEOPLE[3]
    yield Sample(
        "label_social_person",
        _svc(510, f"{name} <{addr}>", "Hey!", "outlook.com", []),
        "human",
        True,
        (addr,),
        "human: CATEGORY_PERSONAL is no noise signal",
        labels=frozenset({"CATEGORY_PERSONAL", "INBOX"}),
    )


def service_samples() -> list[Sample]:
    return [
        *relayed_people(),
        *collaboration(),
        *transactional(),
        *calendar_services(),
        *bulk(),
        *provider_labels(),
    ]
