"""Where the classifier's rules stop: the cases mutation testing found no test for.

Each case is one realistic message built on the base message of test_classify_signals
(a person's plain mail): one header field added or replaced, and the line a rule draws
checked on both sides where it has two.
"""

from __future__ import annotations

import pytest

from connectors.base import FolderRole
from syncd.ingest.addresses import OwnerIdentity
from syncd.ingest.classify import Party, classify
from tests.test_classify_caches import fresh_classifier_caches  # noqa: F401 (autouse)
from tests.test_classify_signals import mail, run

# --- classify.py -----------------------------------------------------------------------------


def test_repeated_to_headers_keep_their_display_names() -> None:
    c = run(
        mail(("To", "Alex Morgan <alex@example.com>"), ("To", "Oliver Brandt <oliver@example.net>"))
    )
    assert [p for p in c.parties if p.role == "to"] == [
        Party("alex@example.com", "Alex Morgan", "to"),
        Party("oliver@example.net", "Oliver Brandt", "to"),
    ]


def test_a_reply_with_references_only_names_its_thread() -> None:
    # Replying from a web archive or some mobile clients sets References but no In-Reply-To.
    c = run(mail(("References", "<root.1@mail.example.org> <CAF3xQ2-9a6@mail.example.org>")))
    assert c.kind == "human"
    assert "part of a thread (References: 2)" in c.reasons
    assert "reply to a message (In-Reply-To)" not in c.reasons


# --- classify_rules.py: senders --------------------------------------------------------------


@pytest.mark.parametrize(
    ("from_", "kind"),
    [
        # "ann" (three letters) of the local part is inside the name's "Annabel".
        ("Annabel Wu <ann.wu@google.com>", "human"),
        # "bob" (three letters) of the name is inside the local part "bobs".
        ("Bob Smith <bobs@amazon.com>", "human"),
    ],
)
def test_three_letters_name_a_person_at_a_service_either_way(from_: str, kind: str) -> None:
    assert run(mail(("From", from_))).kind == kind


def test_a_reply_to_at_the_senders_own_domain_relays_nobody() -> None:
    c = run(mail(("From", "Acme Billing <no-reply@acme.example>"),
                 ("Reply-To", "Acme Billing <billing@acme.example>")))  # fmt: skip
    assert c.kind == "notification"
    assert not any(r.startswith("relays a person") for r in c.reasons), c.reasons


# --- classify_rules.py: calendar -------------------------------------------------------------


def test_a_calendar_service_address_without_a_name_is_a_calendar_sender() -> None:
    c = run(mail(("From", "calendar-notification@google.com"),
                 ("Subject", "Notification: Dentist @ Wed Mar 13, 2024 9am")))  # fmt: skip
    assert c.kind == "calendar"
    assert "calendar service sender (calendar-notification@google.com)" in c.reasons


def test_the_google_calendar_name_alone_is_a_calendar_sender() -> None:
    c = run(mail(("From", "Google Calendar <reminders@calendar.example>"),
                 ("Subject", "Reminder: Dentist @ Wed Mar 13, 2024 9am")))  # fmt: skip
    assert c.kind == "calendar"
    assert "calendar service sender (reminders@calendar.example)" in c.reasons


def test_a_google_calendar_sender_field_is_read_by_its_name_too() -> None:
    # Workspace invitations come From the organiser, Sender the calendar service.
    c = run(mail(("From", "Priya Raman <priya@example.net>"),
                 ("Sender", "Google Calendar <invites@calendar.example>"),
                 ("Subject", "Invitation: Planning @ Tue Mar 12, 2024 10am - 11am (CET)")))  # fmt: skip
    assert (c.kind, c.counterparts) == ("calendar", ("priya@example.net",))
    assert "calendar service sender (invites@calendar.example)" in c.reasons


def test_the_owner_at_a_service_company_writes_as_a_person() -> None:
    # Someone who works at Stripe sends from stripe.com, a service domain for everyone else.
    stripe = OwnerIdentity.from_config("Alex Morgan", ["am@stripe.com"], [])
    msg = mail(("From", "Alex Morgan <am@stripe.com>"), ("To", "Jamie Lee <jamie.lee@example.org>"))
    c = classify(msg, stripe)
    assert (c.kind, c.direction, c.is_interaction) == ("human", "out", True), c.reasons
    assert run(mail(("From", "Alex Morgan <am@stripe.com>"))).kind == "notification"


# --- classify.py: what the owner's history reads ---------------------------------------------


NOREPLY = ("From", "Acme <no-reply@acme.example>")
TEN_GUESTS = ("Cc", ", ".join(f"Guest {k} <guest{k}@example.net>" for k in range(10)))


@pytest.mark.parametrize(
    ("fields", "folder_role", "expected"),
    [
        ((), "inbox", True),  # a person's mail to the owner
        (
            (("From", "Alex Morgan <alex@example.com>"), ("To", "jamie.lee@example.org")),
            "sent",
            False,
        ),
        ((NOREPLY,), "inbox", False),  # a machine's address: no person to count
        ((TEN_GUESTS,), "inbox", False),  # a group of 11
        ((), "drafts", False),
    ],
    ids=["incoming", "outgoing", "no-reply sender", "group too large", "draft"],
)
def test_interaction_if_human_is_incoming_mail_from_a_person_to_a_small_group(
    fields: tuple[tuple[str, str], ...], folder_role: FolderRole, expected: bool
) -> None:
    assert run(mail(*fields, folder_role=folder_role)).interaction_if_human is expected


def test_only_human_mail_says_it_has_no_counterpart() -> None:
    to_self = run(mail(("From", "alex@example.com"), ("To", "Alex Morgan <alex@example.com>")))
    assert (to_self.kind, to_self.direction) == ("human", "out")
    assert "no counterpart besides the owner" in to_self.reasons
    assert "no counterpart besides the owner" not in run(mail()).reasons
    machine = run(mail(NOREPLY))
    assert (machine.kind, machine.counterparts) == ("notification", ())
    assert "no counterpart besides the owner" not in machine.reasons


# --- classify_rules.py: calendar, spam, lists, bulk ------------------------------------------


def test_an_invitation_in_another_language_is_known_by_its_sender() -> None:
    # Google's German invitation: the subject matches no English form, the .ics is a part of
    # a multipart/mixed body, and the Sender is the calendar service.
    c = run(mail(("From", "Priya Raman <priya@example.net>"),
                 ("Sender", "Google Calendar <calendar-notification@google.com>"),
                 ("Subject", "Einladung: Planung @ Di. 12. März 2024 10:00 - 11:00 (MEZ)"),
                 ("Content-Type", 'multipart/mixed; boundary="000"'),
                 hints=frozenset({"text/calendar"})))  # fmt: skip
    assert (c.kind, c.reasons[0]) == ("calendar", "text/calendar part in the body"), c.reasons


def test_a_calendar_reminder_gives_its_subject_then_its_sender() -> None:
    c = run(mail(("From", "Google Calendar <calendar-notification@google.com>"),
                 ("Subject", "Notification: Dentist @ Wed Mar 13, 2024 9am")))  # fmt: skip
    assert c.reasons[:2] == (
        "invitation subject (notification:)",
        "calendar service sender (calendar-notification@google.com)",
    )


def test_a_report_without_a_report_type_is_no_bounce_and_does_not_raise() -> None:
    c = run(mail(("Content-Type", 'multipart/report; boundary="b1"')))
    assert (c.kind, c.is_interaction) == ("human", True)


@pytest.mark.parametrize("value", ["false", "0"])
def test_an_x_autoreply_that_says_no_is_no_auto_reply(value: str) -> None:
    assert run(mail(("X-Autoreply", value))).kind == "human"


def test_the_owner_at_a_domain_with_a_brand_word_is_no_look_alike() -> None:
    # An orchard's own domain holds "apple"; mail from a stranger there is a look-alike.
    orchard = OwnerIdentity.from_config("Alex Morgan", ["alex@apple-orchard.example"], [])
    msg = mail(
        ("From", "Alex Morgan <alex@apple-orchard.example>"), ("To", "jamie.lee@example.org")
    )
    assert classify(msg, orchard).kind == "human"
    assert run(mail(("From", "Apple <id@apple-orchard.example>"))).kind == "spam"


def test_every_failed_authentication_is_named() -> None:
    results = "mx1.example.com; spf=fail smtp.mailfrom=example.org; dkim=none; dmarc=fail"
    c = run(mail(("Authentication-Results", results)))
    assert c.reasons[0] == "authentication failed (dmarc=fail, spf=fail)"


def test_list_post_alone_makes_a_discussion_list() -> None:
    c = run(mail(("List-Post", "<mailto:dev@lists.example.org>")))
    assert (c.kind, c.reasons[0]) == ("list", "List-Post header present"), c.reasons


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        (("Precedence", "list"), "Precedence: list"),
        (("X-Mailman-Version", "2.1.39"), "Mailman headers"),
        (("X-BeenThere", "dev@lists.example.org"), "Mailman headers"),
        (("X-Sympa-To", "users@lists.example.org"), "Sympa headers"),
    ],
)
def test_a_list_names_the_software_that_sent_it(field: tuple[str, str], reason: str) -> None:
    c = run(mail(("List-Id", "<dev.lists.example.org>"), field))
    assert c.reasons[:2] == ("List-Id header present (dev.lists.example.org)", reason)


def test_a_discussion_list_with_an_unsubscribe_link_is_no_announcement_list() -> None:
    # Mailman 3 adds List-Unsubscribe to every post.
    c = run(mail(("List-Id", "<dev.lists.example.org>"),
                 ("List-Post", "<mailto:dev@lists.example.org>"),
                 ("List-Unsubscribe", "<mailto:dev-leave@lists.example.org>")))  # fmt: skip
    assert c.kind == "list"
    assert not any(r.startswith("List-Id without List-Post") for r in c.reasons), c.reasons


def test_a_promotional_address_alone_is_soft_marketing() -> None:
    c = run(mail(("From", "Deals <deals@shop.example>")))
    assert (c.kind, c.soft) == ("marketing", True)
    assert c.reasons[0] == "promotional sender address (deals@)"


# --- classify_families.py ----------------------------------------------------------------------


def test_a_newsletter_platform_header_makes_bulk_mail_a_newsletter() -> None:
    c = run(mail(("List-Unsubscribe", "<https://example.beehiiv.com/unsubscribe>"),
                 ("X-Beehiiv-Ids", "p-1a2b")))  # fmt: skip
    assert (c.kind, c.reasons[0]) == ("newsletter", "newsletter platform"), c.reasons


def test_a_mailchimp_campaign_header_alone_is_marketing() -> None:
    c = run(mail(("X-Mailchimp-Campaign", "4f1c2e")))
    assert (c.kind, c.reasons[0]) == ("marketing", "bulk mail header x-mailchimp-campaign")


# --- classify_rules.py: bulk mail, notifications, weak hints ---------------------------------


def test_precedence_bulk_from_a_mail_service_is_bulk_mail() -> None:
    # Amazon SES mail with Precedence: bulk and no List-Unsubscribe, selling something.
    c = run(mail(("Precedence", "bulk"), ("Feedback-ID", "1.us-east-1.Bp1:AmazonSES"),
                 ("Subject", "Spring sale: 20% off")))  # fmt: skip
    assert c.kind == "marketing", c.reasons
    assert c.reasons[:2] == ("sales subject (sale)", "bulk mail header feedback-id")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ((("List-Id", "<news.example.org>"),), "List-Id, no List-Post"),
        ((("List-Id", "<news.example.org>"), ("List-Post", "NO")), "List-Post: NO"),
    ],
)
def test_bulk_mail_without_a_bulk_header_says_what_made_it_bulk(
    headers: tuple[tuple[str, str], ...], reason: str
) -> None:
    c = run(mail(*headers, ("Subject", "Spring sale: 20% off")))
    assert c.kind == "marketing", c.reasons
    assert any(reason in r for r in c.reasons), c.reasons
    assert all(r == r.strip() for r in c.reasons), c.reasons


def test_a_discussion_list_post_is_no_bulk_mail() -> None:
    c = run(mail(("List-Id", "<dev.lists.example.org>"), ("List-Post", "<mailto:d@l.example>")))
    assert c.kind == "list"
    assert "bulk mail that is no publication" not in c.reasons, c.reasons


def test_bulk_mail_that_neither_sells_nor_publishes_says_so() -> None:
    c = run(mail(("List-Unsubscribe", "<https://brand.example/u>")))
    assert c.reasons[:2] == ("List-Unsubscribe header present", "bulk mail that is no publication")


def test_bulk_mail_from_a_service_sending_domain_is_a_notification() -> None:
    c = run(mail(("From", "Docusign <dse@docusign.net>"),
                 ("List-Unsubscribe", "<https://docusign.net/u>")))  # fmt: skip
    assert (c.kind, c.reasons[0]) == (
        "notification",
        "machine sender dse@docusign.net with an unsubscribe link",
    )


def test_a_relayed_person_is_the_first_reason() -> None:
    c = run(mail(("From", "Priya Raman (Google Docs) <docs@collab.example>"),
                 ("Feedback-ID", "share:collab")))  # fmt: skip
    assert c.reasons[:2] == (
        "relays a person (priya raman (google docs))",
        "bulk mail service header feedback-id",
    )


@pytest.mark.parametrize(
    ("fields", "labels"),
    [
        ((), {"CATEGORY_UPDATES"}),
        ((), {"INFERENCE:OTHER"}),
        ((("X-Mailer", "SubscriptionCenter"),), set()),
    ],
    ids=["gmail updates", "outlook other", "mass mailer"],
)
def test_a_provider_category_or_mailer_alone_is_soft(
    fields: tuple[tuple[str, str], ...], labels: set[str]
) -> None:
    c = run(mail(*fields, labels=frozenset(labels)))
    assert (c.kind, c.soft) == ("notification", True), c.reasons


TWO_WEAK = (("Return-Path", "<>"), ("X-Auto-Response-Suppress", "All"))


@pytest.mark.parametrize(
    ("field", "client"),
    [
        (("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Thunderbird/115.8.0"),
         "thunderbird"),
        (("Message-ID", "<CAJ8nq2z=Qx7@mail.gmail.com>"), "gmail"),
    ],
)  # fmt: skip
def test_a_personal_client_in_user_agent_or_message_id_outweighs_weak_hints(
    field: tuple[str, str], client: str
) -> None:
    c = run(mail(*TWO_WEAK, field))
    assert c.kind == "human"
    assert f"written with a personal mail client ({client})" in c.reasons


def test_a_personal_client_is_only_named_against_weak_hints_alone() -> None:
    apple = ("X-Mailer", "Apple Mail (2.3774)")
    plain = run(mail(apple))
    assert not any(r.startswith("written with") for r in plain.reasons), plain.reasons
    noise = run(mail(*TWO_WEAK, apple, ("Auto-Submitted", "auto-generated")))
    assert noise.kind == "notification"
    assert not any(r.startswith("written with") for r in noise.reasons), noise.reasons
