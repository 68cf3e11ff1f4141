"""The owner's history at ingest: real Maildir sources into a real store (SQLite, Postgres)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from syncd.config import load_config
from syncd.ingest.classify import classify
from syncd.ingest.owner_history import OwnerHistory, weigh
from syncd.store.db import Store
from syncd.store.models import Interaction, Participant
from syncd.sync.passes import Syncer, sync_all
from tests.mailcorpus import build, owner, raw_message
from tests.util import cli_json, deliver, make_maildir, message, run_cli, write_config

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
OWNER = owner()


def _syncer(tmp_path: Path, store_url: str, mail: Path) -> tuple[Syncer, Store]:
    account = f'\n[[accounts]]\nname = "work"\nkind = "maildir"\npath = "{mail}"\n'
    config = load_config(write_config(tmp_path / "syncd.toml", account, store_url=store_url))
    store = Store(config.store_url)
    store.check_ready()
    return Syncer(store, config, store.ensure_owner("default", NOW)), store


def _row(store: Store, message_key: str) -> tuple[str, bool, str, list[tuple[str, bool]]]:
    with store.session() as s:
        i = s.scalars(select(Interaction).where(Interaction.message_key == message_key)).one()
        parts = s.execute(
            select(Participant.address, Participant.is_counterpart).where(
                Participant.interaction_id == i.id, Participant.role == "from"
            )
        ).all()
        return i.category, i.is_interaction, i.reasons, [tuple(p) for p in parts]


# A shop's shared address, sending through a mail service: alone, a notification.
SHOP = {"Feedback-ID": "1:orders:shopsystem"}


def test_mail_from_an_address_the_owner_wrote_to_is_a_person(
    tmp_path: Path, store_url: str
) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    syncer, store = _syncer(tmp_path, store_url, mail)
    deliver(mail, message(sender="Fernweh Books <orders@fernweh.example>", to="alex@example.com",
                          subject="Your order", date=T0, message_id="o1@fernweh.example",
                          extra=SHOP))  # fmt: skip
    sync_all(syncer, now_fn=lambda: NOW)
    assert _row(store, "mid:o1@fernweh.example")[:2] == ("notification", False)
    deliver(mail / "Sent", message(sender="Alex <alex@example.com>", to="orders@fernweh.example",
                                   subject="Special order?", date=T0 + timedelta(days=1),
                                   message_id="q1@example.com"))  # fmt: skip
    deliver(mail, message(sender="Ben at Fernweh <orders@fernweh.example>", to="alex@example.com",
                          subject="Your special order arrived", date=T0 + timedelta(days=3),
                          message_id="o2@fernweh.example", extra=SHOP))  # fmt: skip
    sync_all(syncer, now_fn=lambda: NOW)
    category, interaction, reasons, parts = _row(store, "mid:o2@fernweh.example")
    assert (category, interaction) == ("human", True)
    assert reasons.startswith("the owner has written to orders@fernweh.example: a person")
    assert parts == [("orders@fernweh.example", True)]
    store.dispose()


def test_a_reply_to_the_owners_message_is_an_interaction(tmp_path: Path, store_url: str) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    syncer, store = _syncer(tmp_path, store_url, mail)
    deliver(
        mail / "Sent",
        message(
            sender="Alex <alex@example.com>",
            to="desk@venue.example",
            subject="Booking",
            date=T0,
            message_id="b1@example.com",
        ),
    )
    sync_all(syncer, now_fn=lambda: NOW)
    deliver(mail, message(sender="Events <events@mailer.venue-booking.example>",
                          to="alex@example.com", subject="Re: Booking", date=T0 + timedelta(1),
                          message_id="r1@venue.example", in_reply_to="b1@example.com",
                          extra={"X-Mailer": "rapidmail"}))  # fmt: skip
    sync_all(syncer, now_fn=lambda: NOW)
    category, interaction, reasons, _ = _row(store, "mid:r1@venue.example")
    assert (category, interaction) == ("human", True)
    assert reasons.startswith("answers the owner's message <b1@example.com>: a person")
    store.dispose()


# --- the pure rule -------------------------------------------------------------------------

ROLE = build([("From", "Hello Team <hello@brand.example>"), ("To", "alex@example.com"),
              ("Subject", "Welcome aboard"), ("Message-ID", "<w1@brand.example>")])  # fmt: skip
HISTORY = OwnerHistory(known=True, written_to=frozenset({"jamie@example.org"}))


def test_templated_mail_from_a_sender_never_answered_leans_to_noise() -> None:
    c = classify(raw_message(ROLE), OWNER)
    assert c.kind == "human" and c.templated
    verdict = weigh(c, HISTORY)
    assert verdict is not None and (verdict.kind, verdict.is_interaction) == ("notification", False)
    assert (
        verdict.reason == "templated mail from hello@brand.example, whom the owner never answered"
    )
    assert weigh(c, OwnerHistory()) is None  # no sent mail at all: nothing is known
    answered = OwnerHistory(known=True, written_to=frozenset({"hello@brand.example"}))
    verdict = weigh(c, answered)
    assert verdict is not None and verdict.kind == "human" and verdict.is_interaction


def test_history_never_overturns_headers_only_machines_write() -> None:
    data = build([("From", "jamie@example.org"), ("To", "alex@example.com"),
                  ("Subject", "Re: x"), ("Auto-Submitted", "auto-generated"),
                  ("In-Reply-To", "<mine@example.com>")])  # fmt: skip
    c = classify(raw_message(data), OWNER)
    assert c.kind == "notification" and not c.soft
    history = OwnerHistory(True, frozenset({"jamie@example.org"}), frozenset({"mine@example.com"}))
    assert weigh(c, history) is None
    person = build([("From", "Jamie <jamie@example.org>"), ("To", "alex@example.com"),
                    ("In-Reply-To", "<mine@example.com>")])  # fmt: skip
    verdict = weigh(classify(raw_message(person), OWNER), history)
    assert (
        verdict is not None and verdict.reason == "answers the owner's message <mine@example.com>"
    )
    outgoing = classify(raw_message(build([("From", "alex@example.com"), ("To", "x@y.example")])),
                        OWNER)  # fmt: skip
    assert weigh(outgoing, history) is None


def test_explain_shows_the_history_that_decided(tmp_path: Path) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    incoming = tmp_path / "shop.eml"
    incoming.write_bytes(message(sender="Ben <orders@fernweh.example>", to="alex@example.com",
                                 subject="Your special order", date=T0, message_id="o3@f.example",
                                 extra=SHOP))  # fmt: skip
    url = f"sqlite:///{tmp_path / 'state' / 'syncd.db'}"
    account = f'\n[[accounts]]\nname = "work"\nkind = "maildir"\npath = "{mail}"\n'
    cfg = str(write_config(tmp_path / "syncd.toml", account, store_url=url))
    before = cli_json("--config", cfg, "explain", str(incoming))
    assert (before["kind"], before["is_interaction"]) == ("notification", False)
    assert not (tmp_path / "state" / "syncd.db").exists()  # explain creates no store
    deliver(
        mail / "Sent",
        message(
            sender="Alex <alex@example.com>",
            to="orders@fernweh.example",
            subject="Special order?",
            date=T0,
            message_id="q9@example.com",
        ),
    )
    run_cli("--config", cfg, "sync", check=True)
    after = cli_json("--config", cfg, "explain", str(incoming))
    assert (after["kind"], after["is_interaction"]) == ("human", True)
    assert after["counterparts"] == ["orders@fernweh.example"]
    assert after["reasons"][0] == (
        "the owner has written to orders@fernweh.example: a person (not notification)"
    )
