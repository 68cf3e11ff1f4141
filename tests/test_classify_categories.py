"""Issue 14's categories, each with a realistic message as the sender writes it."""

from __future__ import annotations

import pytest

from syncd.ingest.classify import Classification, classify
from tests.mailcorpus import build, owner, raw_message
from tests.test_classify_caches import fresh_classifier_caches  # noqa: F401 (autouse)

OWNER = owner()
DATE = ("Date", "Tue, 05 Mar 2024 10:15:00 +0100")


def run(fields: list[tuple[str, str]], body: str = "Hello\n") -> Classification:
    return classify(raw_message(build([*fields, DATE], body)), OWNER)


RELAYED = {
    "google docs comment": [
        ("From", '"Priya Raman (Google Docs)" <comments-noreply@docs.google.com>'),
        ("Reply-To", '"Priya Raman" <d+AORGpRfx1@docs.google.com>'),
        ("To", "alex@example.com"), ("Subject", 'Priya Raman mentioned you in "Q2 plan"'),
        ("Message-ID", "<a1b2@docs.google.com>"), ("X-Notifications", "GAMMA:<f7a1@docs>"),
    ],
    "drive share": [
        ("From", '"Priya Raman (via Google Drive)" <drive-shares-dm-noreply@google.com>'),
        ("Reply-To", "Priya Raman <priya.raman@northwind.example>"),
        ("To", "alex@example.com"), ("Subject", 'Document shared with you: "Budget"'),
    ],
    "workspace": [
        ("From", "Google Workspace <workspace-noreply@google.com>"),
        ("To", "alex@example.com"), ("Subject", "Your Google Workspace storage"),
    ],
    "docusign": [
        ("From", '"Dana Fischer via Docusign" <dse_NA3@docusign.net>'),
        ("Reply-To", "Dana Fischer <dana@lawfirm.example>"),
        ("To", "Alex Morgan <alex@example.com>"),
        ("Subject", "Complete with Docusign: Engagement_Letter.pdf"),
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(RELAYED))
def test_a_service_relaying_a_person_is_a_notification(name: str) -> None:
    c = run(RELAYED[name])
    assert (c.kind, c.is_interaction, c.counterparts) == ("notification", False, ())


def test_a_relayed_person_is_named_in_the_reasons() -> None:
    c = run(RELAYED["drive share"])
    assert "relays a person (priya raman (via google drive))" in c.reasons


TRANSACTIONAL = {
    "amazon ses": [
        ("From", "Amazon.com <shipment-tracking@amazon.com>"), ("To", "alex@example.com"),
        ("Subject", "Your Amazon.com order has shipped (#112-1)"),
        ("Message-ID", "<0100018e1a2b3c4d-5e6f-0000@email.amazonses.com>"),
        ("X-SES-Outgoing", "2024.03.05-54.240.1.1"),
        ("Feedback-ID", "1.us-east-1.Bp1:AmazonSES"),
    ],
    "ups": [
        ("From", "UPS <mcinfo@ups.com>"), ("To", "alex@example.com"),
        ("Subject", "UPS Update: Package Scheduled for Delivery Today"),
    ],
    "stripe": [
        ("From", "Acme Inc <invoice+statements+acct_1Mz@stripe.com>"),
        ("To", "alex@example.com"), ("Subject", "Your receipt from Acme Inc #1904"),
        ("X-SG-EID", "u001.abc"),
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(TRANSACTIONAL))
def test_transactional_mail_from_named_mailboxes_is_a_notification(name: str) -> None:
    c = run(TRANSACTIONAL[name])
    assert (c.kind, c.is_interaction, c.counterparts) == ("notification", False, ())


def test_a_calendar_reminder_is_calendar_machinery() -> None:
    c = run([("From", "Google Calendar <calendar-notification@google.com>"),
             ("To", "alex@example.com"),
             ("Subject", "Notification: Dentist @ Wed Mar 13, 2024 9am - 10am (CET)")])  # fmt: skip
    assert (c.kind, c.is_interaction) == ("calendar", False)


def test_cron_output_is_a_notification() -> None:
    c = run([("From", "root@web1.example.com (Cron Daemon)"), ("To", "alex@example.com"),
             ("Subject", "Cron <root@web1> /usr/local/bin/backup.sh"),
             ("X-Cron-Env", "<SHELL=/bin/sh>"), ("X-Cron-Env", "<HOME=/root>")])  # fmt: skip
    assert (c.kind, c.is_interaction, c.counterparts) == ("notification", False, ())


def test_an_uptime_monitor_is_a_notification() -> None:
    c = run([("From", "UptimeRobot <alert@uptimerobot.com>"), ("To", "alex@example.com"),
             ("Subject", "Monitor is DOWN: shop.example.com")])  # fmt: skip
    assert (c.kind, c.is_interaction) == ("notification", False)


@pytest.mark.parametrize(
    "subject",
    ["Automatic reply", "Out of Office", "Abwesenheitsnotiz", "Réponse automatique",
     "Respuesta automática", "Risposta automatica", "Automatisch antwoord", "Autosvar"],
)  # fmt: skip
def test_outlook_client_rule_replies_are_auto_replies(subject: str) -> None:
    c = run([("From", "Priya Raman <priya@example.net>"), ("To", "alex@example.com"),
             ("Subject", subject), ("Thread-Topic", subject)])  # fmt: skip
    assert (c.kind, c.is_interaction, c.counterparts) == (
        "auto_reply",
        False,
        ("priya@example.net",),
    )


SPAM = {
    "look-alike": [("From", "PayPal Service <service@paypa1-secure.example>"),
                   ("To", "alex@example.com"), ("Subject", "Your account has been limited")],
    "fake re and failing auth": [
        ("From", "Jamie Lee <ceo.jamie@gmail-office.example>"), ("To", "alex@example.com"),
        ("Subject", "Re: urgent wire transfer"),
        ("Authentication-Results", "mx1.example.com; spf=fail; dkim=none; dmarc=fail")],
    "x-spam verdict": [("From", "DHL <info@dhl-zustellung.example>"), ("To", "alex@example.com"),
                       ("Subject", "Paket"), ("X-Spam-Status", "Yes, score=7.9 required=5.0")],
    "undisclosed recipients": [
        ("From", "Mrs. Sarah Williams <sarah.williams1958@outlook.com>"),
        ("To", "undisclosed-recipients:;"), ("Reply-To", "sarahwilliams.lawyer@gmail.com"),
        ("Subject", "Dear Friend")],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SPAM))
def test_spam_and_phishing(name: str) -> None:
    c = run(SPAM[name])
    assert (c.kind, c.is_interaction, c.counterparts) == ("spam", False, ())


def test_a_person_answering_from_a_shops_role_address_is_a_person() -> None:
    c = run([("From", "Maria Blum | Blumen Meier <info@blumen-meier.example>"),
             ("To", "alex@example.com"), ("Subject", "Re: Flowers for the 14th"),
             ("In-Reply-To", "<ask1@example.com>"), ("User-Agent", "Roundcube Webmail/1.6.6")])  # fmt: skip
    assert (c.kind, c.is_interaction) == ("human", True)
    assert c.counterparts == ("info@blumen-meier.example",)


def test_a_friends_note_with_an_ics_file_is_a_person() -> None:
    body = (
        "--b\nContent-Type: text/plain; charset=UTF-8\n\nsee the attached file\n"
        '--b\nContent-Type: text/calendar; name="event.ics"\n'
        'Content-Disposition: attachment; filename="event.ics"\n\nBEGIN:VCALENDAR\n'
    )
    c = run([("From", "Jamie Lee <jamie.lee@example.org>"), ("To", "alex@example.com"),
             ("Subject", "Dinner at ours on the 14th"),
             ("Content-Type", 'multipart/mixed; boundary="b"')], body)  # fmt: skip
    assert (c.kind, c.is_interaction) == ("human", True)


BULK = [("To", "alex@example.com"), ("List-Unsubscribe", "<https://news.example/u>")]


@pytest.mark.parametrize(
    ("sender", "subject", "kind"),
    [
        ("Fernweh Books <news@fernweh.example>", "Spring sale: 20% off everything", "marketing"),
        ("Lidl <newsletter@mailing.lidl.example>", "Die Angebote der Woche", "marketing"),
        ("Python Weekly <rahul@pythonweekly.example>", "Python Weekly - Issue 638", "newsletter"),
        ("heise online <newsletter@heise.example>", "Neues aus der Redaktion", "newsletter"),
        ("Lenny <lenny@substack.com>", "How the best PMs prioritise", "newsletter"),
        ("Patagonia <patagonia@email.patagonia.example>", "Stories from the field", "marketing"),
    ],
)
def test_newsletter_or_marketing_by_the_documented_rule(
    sender: str, subject: str, kind: str
) -> None:
    c = run([("From", sender), ("Subject", subject), *BULK])
    assert c.kind == kind, c.reasons
