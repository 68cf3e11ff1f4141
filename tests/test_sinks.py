"""The write side: drafts in a Maildir tree and tentative holds in a folder of .ics files.

`DraftSinkContract` and `HoldSinkContract` (tests/contracts.py) state what any sink must
do; each local connector (and each Maildir layout) subclasses them here and says how a
user edits, moves or deletes what the sink stored. Everything runs on real files in tmp_path.
"""

from __future__ import annotations

import dataclasses
import email
import logging
import os
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest

from connectors.base import Created, DraftSink, HoldSink, SourceInvalid
from connectors.ics_holds import IcsHolds
from connectors.maildir import MaildirSource
from connectors.maildir_drafts import MaildirDrafts
from tests.contracts import DraftSinkContract, HoldSinkContract, draft_spec, hold_spec, sha, utc
from tests.util import deliver, make_maildir, message

EVIL = "\r\nBcc: evil@example.org"
STAMP = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def parse_mail(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


# =========================================================================== drafts


class MaildirDraftsContract(DraftSinkContract):
    """A mail client's hands on a Maildir: it rewrites the file, renames or unlinks it."""

    root_folders: tuple[str, ...] = ()
    no_lost_answer = (
        "a local file write has no answer to lose: a crash after the rename is a second "
        "create, which test_create_twice_stores_one_draft covers"
    )

    @pytest.fixture
    def sink(self, tmp_path: Path) -> DraftSink:
        return MaildirDrafts(make_maildir(tmp_path / "mail", *self.root_folders))

    def _rewrite(self, sink: DraftSink, created: Created, change: str, value: str) -> None:
        assert isinstance(sink, MaildirDrafts)
        path = sink.root / created.ref
        msg = parse_mail(path)
        if change == "body":
            msg.set_content(value)
        else:
            msg.replace_header(change, value)
        path.write_bytes(msg.as_bytes())

    def edit_body(self, sink: DraftSink, created: Created, text: str) -> None:
        self._rewrite(sink, created, "body", text)

    def edit_to(self, sink: DraftSink, created: Created, address: str) -> None:
        self._rewrite(sink, created, "To", address)

    def delete(self, sink: DraftSink, created: Created) -> None:
        assert isinstance(sink, MaildirDrafts)
        (sink.root / created.ref).unlink()

    def count(self, sink: DraftSink) -> int:
        assert isinstance(sink, MaildirDrafts)
        folder = sink.drafts_dir()
        assert folder is not None
        return sum(len(os.listdir(folder / sub)) for sub in ("cur", "new", "tmp"))


class TestMaildirDraftsVerbatim(MaildirDraftsContract):
    root_folders = ("INBOX", "Sent", "Archive/2023")


class TestMaildirDraftsPlusPlus(MaildirDraftsContract):
    root_folders = ("INBOX", ".Sent", ".Archive.2023")


def test_drafts_land_in_drafts_in_the_verbatim_layout(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX", "Sent", "Lists/python")
    created = MaildirDrafts(root).create_draft(draft_spec())
    assert created.ref.startswith("Drafts/cur/")
    assert created.ref.endswith(":2,DS")
    assert all((root / "Drafts" / sub).is_dir() for sub in ("cur", "new", "tmp"))
    assert os.listdir(root / "Drafts" / "tmp") == []
    assert {s.name for s in MaildirSource(root).streams()} == {"INBOX", "Sent", "Lists/python"}


def test_drafts_land_in_dot_drafts_in_maildir_plus_plus(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX", ".Sent")
    created = MaildirDrafts(root).create_draft(draft_spec())
    assert created.ref.startswith(".Drafts/cur/")
    assert (root / ".Drafts" / "maildirfolder").is_file()
    assert not (root / "Drafts").exists()
    assert {s.name for s in MaildirSource(root).streams()} == {"INBOX", "Sent"}


def test_a_bare_maildir_root_gets_maildir_plus_plus_drafts(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX")
    assert MaildirDrafts(root).create_draft(draft_spec()).ref.startswith(".Drafts/cur/")


def test_an_existing_drafts_folder_is_found_by_its_role(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX", "[Gmail]/Entwürfe", "[Gmail]/Gesendet")
    created = MaildirDrafts(root).create_draft(draft_spec())
    assert created.ref.startswith("[Gmail]/Entwürfe/cur/")
    assert not (root / "Drafts").exists()


def test_the_configured_drafts_folder_is_used(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX", "Drafts", "Concepts")
    created = MaildirDrafts(root, drafts_folder="Concepts").create_draft(draft_spec())
    assert created.ref.startswith("Concepts/cur/")
    plus = make_maildir(tmp_path / "plus", "INBOX", ".Sent")
    created = MaildirDrafts(plus, drafts_folder="Work/Concepts").create_draft(draft_spec())
    assert created.ref.startswith(".Work.Concepts/cur/")


def test_find_creates_no_folder(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    assert MaildirDrafts(root).find_draft("draft:x") is None
    assert sorted(os.listdir(root)) == ["Sent", "cur", "new", "tmp"]


def test_a_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceInvalid, match="no such folder"):
        MaildirDrafts(tmp_path / "missing").create_draft(draft_spec())


def test_the_draft_is_a_plain_rfc5322_message(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX", "Drafts")
    spec = draft_spec(
        in_reply_to="orig-1@example.org", references=("a@x.org", "<orig-1@example.org>")
    )
    created = MaildirDrafts(root).create_draft(spec)
    msg = parse_mail(root / created.ref)
    assert str(msg["From"]) == "Alex Morgan <alex@example.com>"
    assert str(msg["To"]) == "Bob Roe <bob@example.org>"
    assert str(msg["Subject"]) == "Following up"
    assert msg["Date"].datetime == spec.date
    assert msg["In-Reply-To"] == "<orig-1@example.org>"
    assert msg["References"] == "<a@x.org> <orig-1@example.org>"
    assert msg["MIME-Version"] == "1.0"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content() == spec.body


def test_message_id_and_key_header_are_derived_from_the_key(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX")
    key = "draft:no_reply:42:" + "x" * 100  # longer than a header line
    created = MaildirDrafts(root).create_draft(draft_spec(key))
    msg = parse_mail(root / created.ref)
    assert msg["Message-ID"] == f"<syncd.{sha(key)}@syncd.invalid>"
    assert msg["X-Syncd-Key"] == key
    assert b"=?" not in (root / created.ref).read_bytes().split(b"\n\n")[0]


def test_a_long_message_id_is_not_encoded(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX")
    outlook = "AM0PR10MB1234ABCD5678EF901234567890ABCDEF@AM0PR10MB1234.EURPRD10.PROD.OUTLOOK.COM"
    created = MaildirDrafts(root).create_draft(draft_spec(in_reply_to=outlook))
    assert parse_mail(root / created.ref)["In-Reply-To"] == f"<{outlook}>"


@pytest.mark.parametrize("field", ["from_name", "to_name", "subject", "key", "in_reply_to", "body"])
def test_line_breaks_in_a_field_add_no_header(tmp_path: Path, field: str) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX")
    base = draft_spec(in_reply_to="orig@example.org")
    evil = str(getattr(base, field)) + EVIL + "\nX-Evil: 1\u2028Cc: c@x.org"
    changes: dict[str, Any] = {field: evil}
    spec = dataclasses.replace(base, **changes)
    created = MaildirDrafts(root).create_draft(spec)
    data = (root / created.ref).read_bytes()
    names = [name.lower() for name in email.message_from_bytes(data)]
    assert names == [
        "from", "to", "subject", "date", "message-id", "in-reply-to", "x-syncd-key",
        "content-type", "content-transfer-encoding", "mime-version",
    ]  # fmt: skip
    head = data.split(b"\n\n", 1)[0]
    assert not any(
        line.lower().startswith((b"bcc", b"x-evil", b"cc")) for line in head.split(b"\n")
    )
    assert MaildirDrafts(root).find_draft(spec.key) == created


def test_line_breaks_in_a_display_name_stay_in_the_name(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX")
    created = MaildirDrafts(root).create_draft(draft_spec(to_name="Bob" + EVIL))
    to = parse_mail(root / created.ref)["To"]
    assert [a.addr_spec for a in to.addresses] == ["bob@example.org"]
    assert "evil@example.org" in to.addresses[0].display_name


def test_an_address_with_a_line_break_is_refused(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX")
    sink = MaildirDrafts(root)
    with pytest.raises(ValueError, match="To address"):
        sink.create_draft(draft_spec(to_address="bob@example.org" + EVIL))
    assert sink.find_draft(draft_spec().key) is None
    assert sink.drafts_dir() is None


def test_a_naive_date_is_refused(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX")
    with pytest.raises(ValueError, match="timezone-aware"):
        MaildirDrafts(root).create_draft(draft_spec(date=datetime(2024, 3, 20, 9)))


def test_fingerprint_survives_a_flag_rename(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX", "Drafts")
    sink = MaildirDrafts(root)
    created = sink.create_draft(draft_spec())
    renamed = (root / created.ref).with_name(created.ref.rsplit("/", 1)[1].replace(":2,DS", ":2,S"))
    (root / created.ref).rename(renamed)
    found = sink.find_draft(draft_spec().key)
    assert found is not None
    assert found.ref == renamed.relative_to(root).as_posix()
    assert found.fingerprint == created.fingerprint
    assert sink.draft_state(draft_spec().key, created.fingerprint) == "untouched"
    assert sink.remove_draft(draft_spec().key, created.fingerprint) is True
    assert not renamed.exists()


def test_a_subject_edit_is_a_change_but_a_header_reorder_is_not(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX", "Drafts")
    sink = MaildirDrafts(root)
    created = sink.create_draft(draft_spec())
    path = root / created.ref
    msg = parse_mail(path)
    msg["X-Mailer"] = "Some client 1.0"
    del msg["Date"]
    msg["Date"] = "Thu, 21 Mar 2024 10:00:00 +0100"
    path.write_bytes(msg.as_bytes())
    assert sink.draft_state(draft_spec().key, created.fingerprint) == "untouched"
    msg.replace_header("Subject", "Following up, rewritten")
    path.write_bytes(msg.as_bytes())
    assert sink.draft_state(draft_spec().key, created.fingerprint) == "changed"


def test_a_draft_that_lost_its_key_header_is_found_by_message_id(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX", "Drafts")
    key = draft_spec().key
    deliver(
        root / "Drafts",
        message(
            sender="alex@example.com",
            to="bob@example.org",
            subject="Saved by a client",
            date=utc(3, 20),
            message_id=f"syncd.{sha(key)}@syncd.invalid",
        ),
        seen=False,
    )
    deliver(
        root / "Drafts",
        message(sender="a@x.org", to="b@x.org", subject="mine", date=utc(3, 20), message_id="m@x"),
    )
    sink = MaildirDrafts(root)
    found = sink.find_draft(key)
    assert found is not None and found.ref.startswith("Drafts/new/")
    assert sink.create_draft(draft_spec()) == found
    assert len(os.listdir(root / "Drafts" / "cur")) == 1  # only the unrelated draft


def test_the_key_header_must_match_exactly(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX", "Drafts")
    sink = MaildirDrafts(root)
    sink.create_draft(draft_spec("draft:a:1"))
    assert sink.find_draft("draft:a:1") is not None
    assert sink.find_draft("draft:a") is None
    assert sink.find_draft("draft:a:10") is None


# =========================================================================== holds


def ics_stamp(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ")


class TestIcsHolds(HoldSinkContract):
    no_lost_answer = (
        "a local file write has no answer to lose: a crash after the rename is a second "
        "create, which test_create_twice_stores_one_hold covers"
    )

    @pytest.fixture
    def sink(self, tmp_path: Path) -> HoldSink:
        return IcsHolds(tmp_path / "holds", clock=lambda: STAMP)

    def _edit(self, sink: HoldSink, created: Created, old: str, new: str) -> None:
        assert isinstance(sink, IcsHolds)
        path = sink.holds_dir / created.ref
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8")

    def move(self, sink: HoldSink, created: Created, start: datetime, end: datetime) -> None:
        spec = hold_spec()
        self._edit(sink, created, f"DTSTART:{ics_stamp(spec.start)}", f"DTSTART:{ics_stamp(start)}")
        self._edit(sink, created, f"DTEND:{ics_stamp(spec.end)}", f"DTEND:{ics_stamp(end)}")

    def rename(self, sink: HoldSink, created: Created, summary: str) -> None:
        self._edit(sink, created, "SUMMARY:Call Bob", f"SUMMARY:{summary}")

    def delete(self, sink: HoldSink, created: Created) -> None:
        assert isinstance(sink, IcsHolds)
        (sink.holds_dir / created.ref).unlink()

    def count(self, sink: HoldSink) -> int:
        assert isinstance(sink, IcsHolds)
        return len(os.listdir(sink.holds_dir)) if sink.holds_dir.exists() else 0


def only_event(path: Path) -> icalendar.Event:
    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, icalendar.Event)
    return event


def test_the_hold_file_carries_the_key(tmp_path: Path) -> None:
    holds = IcsHolds(tmp_path / "holds", clock=lambda: STAMP)
    key = "hold:thanks:42"
    created = holds.create_hold(
        hold_spec(key, start=datetime(2024, 3, 21, 10, tzinfo=ZoneInfo("Europe/Berlin")))
    )
    uid = f"syncd-{sha(key)}@syncd.invalid"
    assert created.ref == f"{uid}.ics"
    assert os.listdir(tmp_path / "holds") == [created.ref]
    calendar = icalendar.Calendar.from_ical((tmp_path / "holds" / created.ref).read_bytes())
    assert str(calendar["PRODID"]) == "-//syncd//EN"
    assert str(calendar["VERSION"]) == "2.0"
    event = only_event(tmp_path / "holds" / created.ref)
    assert str(event["UID"]) == uid
    assert str(event["X-SYNC-KEY"]) == key
    assert str(event["STATUS"]) == "TENTATIVE"
    assert str(event["TRANSP"]) == "OPAQUE"
    assert event.categories == ["syncd"]
    assert event.start == utc(3, 21, 9)
    assert b"DTSTART:20240321T090000Z\r\n" in (tmp_path / "holds" / created.ref).read_bytes()
    assert event.end == utc(3, 21, 10)
    assert event.DTSTAMP == STAMP


def test_text_with_line_breaks_commas_and_semicolons_is_escaped(tmp_path: Path) -> None:
    holds = IcsHolds(tmp_path / "holds", clock=lambda: STAMP)
    summary = "Call Bob, Inc.; re: Q1\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil"
    description = "Line 1\nLine 2, with; punctuation \\ and a backslash"
    key = "hold:a,b;c\r\nX-EVIL:1"
    created = holds.create_hold(hold_spec(key, summary=summary, description=description))
    event = only_event(tmp_path / "holds" / created.ref)
    assert str(event["SUMMARY"]) == summary.replace("\r\n", "\n")
    assert str(event["DESCRIPTION"]) == description
    assert "X-EVIL" not in event
    written = (tmp_path / "holds" / created.ref).read_bytes().replace(b"\r\n ", b"")
    assert b"\r\nX-SYNC-KEY:hold:a\\,b\\;c\\nX-EVIL:1\r\n" in written
    assert sorted(event.keys()) == sorted(
        ["UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "DESCRIPTION", "STATUS", "TRANSP",
         "CATEGORIES", "X-SYNC-KEY"]
    )  # fmt: skip
    assert holds.find_hold(key) == created


def test_a_renamed_file_is_still_found(tmp_path: Path) -> None:
    holds = IcsHolds(tmp_path / "holds", clock=lambda: STAMP)
    created = holds.create_hold(hold_spec())
    (tmp_path / "holds" / created.ref).rename(tmp_path / "holds" / "4f1c-renamed.ics")
    assert holds.find_hold(hold_spec().key) == Created("4f1c-renamed.ics", created.fingerprint)
    assert holds.create_hold(hold_spec()).ref == "4f1c-renamed.ics"
    assert os.listdir(tmp_path / "holds") == ["4f1c-renamed.ics"]


def test_a_new_uid_with_the_key_property_is_still_found(tmp_path: Path) -> None:
    holds = IcsHolds(tmp_path / "holds", clock=lambda: STAMP)
    key = "hold:" + "long-key," * 12  # folded on write, escaped comma
    created = holds.create_hold(hold_spec(key))
    old = tmp_path / "holds" / created.ref
    text = old.read_text(encoding="utf-8").replace(f"UID:syncd-{sha(key)}", "UID:tool-made")
    (tmp_path / "holds" / "tool.ics").write_text(text, encoding="utf-8")
    old.unlink()
    found = holds.find_hold(key)
    assert found == Created("tool.ics", created.fingerprint)
    assert holds.find_hold("hold:" + "long-key," * 11) is None


def test_resaving_in_another_zone_is_not_a_move(tmp_path: Path) -> None:
    holds = IcsHolds(tmp_path / "holds", clock=lambda: STAMP)
    created = holds.create_hold(hold_spec())
    path = tmp_path / "holds" / created.ref
    text = path.read_text(encoding="utf-8")
    text = text.replace("DTSTART:20240321T090000Z", "DTSTART;TZID=Europe/Berlin:20240321T100000")
    text = text.replace("DTEND:20240321T100000Z", "DURATION:PT1H")
    path.write_text(text, encoding="utf-8")
    assert holds.hold_state(hold_spec().key, created.fingerprint) == "untouched"
    path.write_text(text.replace("T100000", "T103000"), encoding="utf-8")
    assert holds.hold_state(hold_spec().key, created.fingerprint) == "changed"


def test_a_corrupted_hold_file_is_changed_not_gone(tmp_path: Path) -> None:
    holds = IcsHolds(tmp_path / "holds", clock=lambda: STAMP)
    created = holds.create_hold(hold_spec())
    (tmp_path / "holds" / created.ref).write_bytes(b"\x00garbage")
    assert holds.hold_state(hold_spec().key, created.fingerprint) == "changed"
    assert holds.remove_hold(hold_spec().key, created.fingerprint) is False
    assert holds.create_hold(hold_spec()).ref == created.ref
    assert (tmp_path / "holds" / created.ref).read_bytes() == b"\x00garbage"


def test_a_hold_must_have_aware_ordered_times(tmp_path: Path) -> None:
    holds = IcsHolds(tmp_path / "holds", clock=lambda: STAMP)
    with pytest.raises(ValueError, match="timezone-aware"):
        holds.create_hold(hold_spec(start=datetime(2024, 3, 21, 9)))
    with pytest.raises(ValueError, match="not after"):
        holds.create_hold(hold_spec(end=utc(3, 21, 9)))
    assert not (tmp_path / "holds").exists()


# --------------------------------------------------------------------------- busy time


def vcal(*events: str) -> str:
    body = "".join(events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n{body}END:VCALENDAR\r\n"


def vevent(uid: str, start: datetime | str, end: datetime | str | None, *lines: str) -> str:
    props = [f"UID:{uid}", "DTSTAMP:20240101T000000Z"]
    props.append(f"DTSTART:{ics_stamp(start)}" if isinstance(start, datetime) else start)
    if end is not None:
        props.append(f"DTEND:{ics_stamp(end)}" if isinstance(end, datetime) else end)
    props += lines
    return "BEGIN:VEVENT\r\n" + "".join(f"{p}\r\n" for p in props) + "END:VEVENT\r\n"


def put(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_busy_merges_overlapping_events_across_folders(tmp_path: Path) -> None:
    work, home = tmp_path / "cal" / "work", tmp_path / "home"
    put(work, "a.ics", vcal(vevent("a", utc(3, 18, 9), utc(3, 18, 10))))
    put(home, "b.ics", vcal(vevent("b", utc(3, 18, 9, 30), utc(3, 18, 11))))
    put(work, "c.ics", vcal(vevent("c", utc(3, 18, 11), utc(3, 18, 12))))  # touches b
    put(work, "d.ics", vcal(vevent("d", utc(3, 18, 14), utc(3, 18, 15))))
    holds = IcsHolds(tmp_path / "holds", calendars=[tmp_path / "cal", home], clock=lambda: STAMP)
    assert holds.busy(utc(3, 18), utc(3, 19)) == [
        (utc(3, 18, 9), utc(3, 18, 12)),
        (utc(3, 18, 14), utc(3, 18, 15)),
    ]


def test_busy_expands_a_weekly_series(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    put(
        cal,
        "weekly.ics",
        vcal(vevent("w", utc(3, 4, 8), utc(3, 4, 9), "RRULE:FREQ=WEEKLY;COUNT=10")),
    )
    holds = IcsHolds(tmp_path / "holds", calendars=[cal])
    assert holds.busy(utc(3, 10), utc(3, 31)) == [
        (utc(3, 11, 8), utc(3, 11, 9)),
        (utc(3, 18, 8), utc(3, 18, 9)),
        (utc(3, 25, 8), utc(3, 25, 9)),
    ]


def test_busy_ignores_transparent_and_cancelled_events(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    put(cal, "t.ics", vcal(vevent("t", utc(3, 18, 9), utc(3, 18, 10), "TRANSP:TRANSPARENT")))
    put(cal, "c.ics", vcal(vevent("c", utc(3, 18, 11), utc(3, 18, 12), "STATUS:CANCELLED")))
    put(cal, "x.ics", vcal(vevent("x", utc(3, 18, 13), utc(3, 18, 14), "STATUS:TENTATIVE")))
    put(cal, "z.ics", vcal(vevent("z", utc(3, 18, 15), None)))  # no length, no busy time
    holds = IcsHolds(tmp_path / "holds", calendars=[cal])
    assert holds.busy(utc(3, 18), utc(3, 19)) == [(utc(3, 18, 13), utc(3, 18, 14))]


def test_busy_includes_holds_and_all_day_events(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    put(cal, "day.ics", vcal(vevent("d", "DTSTART;VALUE=DATE:20240322", None)))
    holds = IcsHolds(tmp_path / "holds", calendars=[cal], clock=lambda: STAMP)
    holds.create_hold(hold_spec(start=utc(3, 21, 23), end=utc(3, 22, 1)))
    assert holds.busy(utc(3, 21), utc(3, 24)) == [(utc(3, 21, 23), utc(3, 23))]


def test_busy_keeps_only_what_overlaps_the_window(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    put(cal, "before.ics", vcal(vevent("b", utc(3, 18, 8), utc(3, 18, 9))))
    put(cal, "across.ics", vcal(vevent("a", utc(3, 18, 11), utc(3, 18, 13))))
    put(cal, "after.ics", vcal(vevent("f", utc(3, 18, 17), utc(3, 18, 18))))
    holds = IcsHolds(tmp_path / "holds", calendars=[cal])
    assert holds.busy(utc(3, 18, 9), utc(3, 18, 17)) == [(utc(3, 18, 11), utc(3, 18, 13))]
    with pytest.raises(ValueError, match="timezone-aware"):
        holds.busy(datetime(2024, 3, 18), utc(3, 19))


def test_busy_skips_bad_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cal = tmp_path / "cal"
    put(cal, "bad.ics", "this is not iCalendar")
    put(cal, "good.ics", vcal(vevent("g", utc(3, 18, 9), utc(3, 18, 10))))
    put(cal, "notes.txt", "BEGIN:VCALENDAR")
    holds = IcsHolds(tmp_path / "holds", calendars=[cal])
    with caplog.at_level(logging.WARNING, logger="connectors.ics_holds"):
        assert holds.busy(utc(3, 18), utc(3, 19)) == [(utc(3, 18, 9), utc(3, 18, 10))]
    skipped = [getattr(r, "path", "") for r in caplog.records if r.msg == "ics.file.skipped"]
    assert [Path(p).name for p in skipped] == ["bad.ics"]


def test_busy_refuses_a_missing_calendar_folder(tmp_path: Path) -> None:
    holds = IcsHolds(tmp_path / "holds", calendars=[tmp_path / "nowhere"])
    with pytest.raises(SourceInvalid, match="no such folder"):
        holds.busy(utc(3, 18), utc(3, 19))


def test_a_holds_folder_may_live_inside_a_calendar_folder(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    holds = IcsHolds(cal / "syncd", calendars=[cal], clock=lambda: STAMP)
    holds.create_hold(hold_spec())
    holds.create_hold(hold_spec("hold:second", start=utc(3, 21, 9, 30), end=utc(3, 21, 11)))
    assert holds.busy(utc(3, 21), utc(3, 22)) == [(utc(3, 21, 9), utc(3, 21, 11))]
