"""Address books: vCard 2.1, 3.0 and 4.0 as exports and CardDAV tools write them."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.base import SourceInvalid
from connectors.vcard import VCard, VCardFile, read_vcard_files, read_vcards


def vcf(*lines: str, encoding: str = "utf-8") -> bytes:
    return "\r\n".join(lines).encode(encoding) + b"\r\n"


def only(data: bytes) -> VCard:
    result = read_vcards(data)
    assert result.skipped == 0
    assert len(result.cards) == 1, result
    return result.cards[0]


APPLE_30 = vcf(
    "BEGIN:VCARD",
    "VERSION:3.0",
    "PRODID:-//Apple Inc.//macOS 14.5//EN",
    "N:Bergmann;Lena;Marie;Dr.;",
    "FN:Dr. Lena Bergmann",
    "ORG:Bergmann & Söhne\\, GmbH;Sales",
    "item1.EMAIL;type=INTERNET;type=WORK:LENA@Bergmann.example",
    "item2.EMAIL;type=INTERNET;type=HOME;type=pref:lena.private@example.net",
    "item2.X-ABLabel:_$!<Other>!$_",
    "BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-12",
    "item3.X-ABDATE;type=pref:2015-06-20",
    "item3.X-ABLabel:_$!<Anniversary>!$_",
    "item4.X-ABDATE:2019-09-01",
    "item4.X-ABLabel:Company founded",
    "ITEM5.X-ABDATE:--12-24",
    "item5.X-ABLabel:_$!<Other>!$_",
    "NOTE:Met at the Berlin workshop.\\nPrefers mornings\\; no calls on Fri",
    " days. Very long notes get folded.",
    "TZ:Europe/Berlin",
    "UID:ABCD-1234-EF",
    "END:VCARD",
)


def test_apple_30_card() -> None:
    assert only(APPLE_30) == VCard(
        uid="ABCD-1234-EF",
        name="Dr. Lena Bergmann",
        emails=("lena.private@example.net", "lena@bergmann.example"),
        birthday=(None, 4, 12),
        anniversary=(2015, 6, 20),
        custom_dates=(("Company founded", (2019, 9, 1)), ("Other", (None, 12, 24))),
        timezone="Europe/Berlin",
        organisation="Bergmann & Söhne, GmbH",
        notes="Met at the Berlin workshop.\nPrefers mornings; no calls on Fridays. Very long notes get folded.",
    )


def test_vcard_21_with_quoted_printable_charsets_and_soft_line_breaks() -> None:
    data = (
        b"BEGIN:VCARD\r\n"
        b"VERSION:2.1\r\n"
        b"N;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:M=FCller;J=F6rg;;;\r\n"
        b"FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=B6rg M=C3=BCller =E2=80=93 Vertrieb=\r\n"
        b" und Marketing Abteil=\r\n"
        b"ung\r\n"
        b"EMAIL;INTERNET:joerg@example.de\r\n"
        b"EMAIL;INTERNET;PREF:J.Mueller@Example.DE\r\n"
        b"BDAY:19750102\r\n"
        b"NOTE;QUOTED-PRINTABLE:Line one=0D=0ALine two\r\n"
        b"X-ANNIVERSARY:2001-05-05\r\n"
        b"PHOTO;ENCODING=BASE64;TYPE=JPEG:\r\n"
        b" /9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4n\r\n"
        b" ICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIy\r\n"
        b"\r\n"
        b"END:VCARD\r\n"
    )
    assert only(data) == VCard(
        uid=None,
        name="Jörg Müller – Vertrieb und Marketing Abteilung",
        emails=("j.mueller@example.de", "joerg@example.de"),
        birthday=(1975, 1, 2),
        anniversary=(2001, 5, 5),
        notes="Line one\nLine two",
    )


def test_vcard_21_name_assembled_from_n_and_8bit_text_without_charset() -> None:
    data = b"BEGIN:VCARD\nVERSION:2.1\nN:Faure;Ren\xe9;;M.;\nEMAIL:rene@example.fr\nEND:VCARD\n"
    card = only(data)
    assert card.name == "M. René Faure"
    assert card.emails == ("rene@example.fr",)


def test_vcard_40_card() -> None:
    card = only(
        vcf(
            "BEGIN:VCARD",
            "VERSION:4.0",
            "UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1",
            "FN:Priya Raman",
            "N:Raman;Priya;;;",
            "EMAIL;TYPE=work;PREF=2:priya@acme.example",
            "EMAIL:mailto:Priya.Raman@Example.COM",
            'EMAIL;TYPE="home,voice";PREF=1:priya.r@example.in',
            "EMAIL;TYPE=work:PRIYA@acme.example",
            "BDAY:--0412",
            "ANNIVERSARY:20090808T1430-0500",
            "TZ:Asia/Kolkata",
            "ORG:Acme Corp",
            "END:VCARD",
        )
    )
    assert card == VCard(
        uid="urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1",
        name="Priya Raman",
        emails=("priya.r@example.in", "priya@acme.example", "priya.raman@example.com"),
        birthday=(None, 4, 12),
        anniversary=(2009, 8, 8),
        timezone="Asia/Kolkata",
        organisation="Acme Corp",
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("BDAY:1985-04-12", (1985, 4, 12)),
        ("BDAY:19850412", (1985, 4, 12)),
        ("BDAY:--0412", (None, 4, 12)),
        ("BDAY:--04-12", (None, 4, 12)),
        ("BDAY;VALUE=date:1985-04-12", (1985, 4, 12)),
        ("BDAY:1985-04-12T08:30:00Z", (1985, 4, 12)),
        ("BDAY:--02-29", (None, 2, 29)),
        ("BDAY:2000-02-29", (2000, 2, 29)),
        ("BDAY:1604-07-01", (None, 7, 1)),
        ("BDAY;VALUE=text:circa 1800", None),
        ("BDAY;VALUE=text:1985-04-12", None),
        ("BDAY:2001-02-29", None),
        ("BDAY:1985-13-01", None),
        ("BDAY:April 12", None),
        ("BDAY:", None),
    ],
)
def test_birthday_forms(line: str, expected: tuple[int | None, int, int] | None) -> None:
    card = only(vcf("BEGIN:VCARD", "VERSION:3.0", "FN:A", line, "END:VCARD"))
    assert card.birthday == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("TZ:America/New_York", "America/New_York"),
        ("TZ;VALUE=text:America/New_York", "America/New_York"),
        ("TZ:-05:00", None),
        ("TZ;VALUE=utc-offset:-0500", None),
        ("TZ:-05:00; EST; America/New_York", "America/New_York"),
        ("TZ:EST", None),
        ("TZ:UTC", "UTC"),
        ("TZ:Mars/Olympus_Mons", None),
        ("TZ:America", None),
        ("TZ:../../etc/passwd", None),
        ("TZ;VALUE=uri:https://example.com/tz/America/New_York", None),
    ],
)
def test_time_zone_forms(line: str, expected: str | None) -> None:
    card = only(vcf("BEGIN:VCARD", "VERSION:4.0", "FN:A", line, "END:VCARD"))
    assert card.timezone == expected


def test_anniversary_variants_and_a_second_apple_anniversary() -> None:
    for prop in ("ANNIVERSARY", "X-ANNIVERSARY", "X-EVOLUTION-ANNIVERSARY", "X-MS-ANNIVERSARY"):
        card = only(vcf("BEGIN:VCARD", "FN:A", f"{prop}:2010-10-10", "END:VCARD"))
        assert card.anniversary == (2010, 10, 10), prop
    card = only(
        vcf(
            "BEGIN:VCARD",
            "FN:A",
            "ANNIVERSARY:2010-10-10",
            "item1.X-ABDATE:2012-12-12",
            "item1.X-ABLabel:_$!<Anniversary>!$_",
            "X-ABDATE:2013-01-01",
            "END:VCARD",
        )
    )
    assert card.anniversary == (2010, 10, 10)
    assert card.custom_dates == (("Anniversary", (2012, 12, 12)), ("Other", (2013, 1, 1)))


def test_escapes_and_structured_values() -> None:
    card = only(
        vcf(
            "BEGIN:VCARD",
            "VERSION:3.0",
            "FN:Smith\\, John \\\\ Jr.",
            "ORG:\\;Semi\\;colon Inc.;Dept",
            "NOTE:a\\Nb\\,c\\;d\\\\e",
            "EMAIL:John Smith <JOHN@example.com>",
            "END:VCARD",
        )
    )
    assert card.name == "Smith, John \\ Jr."
    assert card.organisation == ";Semi;colon Inc."
    assert card.notes == "a\nb,c;d\\e"
    assert card.emails == ("john@example.com",)


def test_lower_case_and_lf_only_and_utf8_bom() -> None:
    data = b"\xef\xbb\xbfbegin:vcard\nversion:3.0\nfn:Lower Case\nemail:lc@example.com\nend:vcard\n"
    assert only(data).name == "Lower Case"


def test_utf16_file_with_byte_order_mark() -> None:
    data = vcf("BEGIN:VCARD", "VERSION:3.0", "FN:Zoë", "EMAIL:zoe@example.com", "END:VCARD")
    assert only(data.decode().encode("utf-16")).name == "Zoë"


def test_nested_agent_card_stays_inside_its_card() -> None:
    data = vcf(
        "BEGIN:VCARD",
        "VERSION:2.1",
        "FN:Boss",
        "EMAIL:boss@example.com",
        "AGENT:",
        "BEGIN:VCARD",
        "VERSION:2.1",
        "FN:Assistant",
        "EMAIL:assistant@example.com",
        "END:VCARD",
        "END:VCARD",
    )
    assert only(data) == VCard(uid=None, name="Boss", emails=("boss@example.com",))


def test_broken_cards_are_skipped_and_counted() -> None:
    data = (
        vcf("BEGIN:VCARD", "VERSION:3.0", "FN:Good One", "EMAIL:one@example.com", "END:VCARD")
        + vcf("BEGIN:VCARD", "VERSION:3.0", "FN:Never Ended", "EMAIL:never@example.com")
        + vcf("BEGIN:VCARD", "VERSION:3.0", "FN:Good Two", "EMAIL:two@example.com", "END:VCARD")
        + vcf(
            "BEGIN:VCARD",
            "VERSION:3.0",
            "this line has no colon",
            "X-ONLY:nothing to identify anyone",
            "END:VCARD",
        )
        + b"\x00\xff\xfe random bytes between cards\r\nEND:VCARD\r\n"
        + vcf(
            "BEGIN:VCARD",
            "FN;CHARSET=NO-SUCH-CHARSET:Odd Charset",
            "BDAY:not a date",
            "EMAIL:not an address",
            "EMAIL;ENCODING=QUOTED-PRINTABLE:bad=ZZqp@example.com",
            "EMAIL:ok@example.com",
            "TZ:Europe/Nowhere",
            "END:VCARD",
        )
        + b"BEGIN:VCARD\r\nFN:Truncated at the end of the file\r\n"
    )
    result = read_vcards(data)
    assert [c.name for c in result.cards] == ["Good One", "Good Two", "Odd Charset"]
    assert result.skipped == 3
    odd = result.cards[2]
    assert odd.emails == ("bad=zzqp@example.com", "ok@example.com")
    assert odd.birthday is None and odd.timezone is None


def test_input_without_cards() -> None:
    assert read_vcards(b"") == VCardFile(cards=(), skipped=0)
    calendar = b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    assert read_vcards(calendar) == VCardFile(cards=(), skipped=0)


# --- files and folders -------------------------------------------------------------------


def test_reads_a_single_file(tmp_path: Path) -> None:
    export = tmp_path / "contacts.vcf"
    export.write_bytes(APPLE_30 + APPLE_30.replace(b"Lena", b"Lina"))
    [(path, result)] = list(read_vcard_files(export))
    assert path == export
    assert [c.name for c in result.cards] == ["Dr. Lena Bergmann", "Dr. Lina Bergmann"]


def test_reads_a_vdirsyncer_folder(tmp_path: Path) -> None:
    def card(name: str) -> bytes:
        return vcf("BEGIN:VCARD", "VERSION:3.0", f"FN:{name}", "END:VCARD")

    (tmp_path / "personal").mkdir()
    (tmp_path / "work" / "team").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / "personal" / "a.vcf").write_bytes(card("A"))
    (tmp_path / "personal" / "b.VCF").write_bytes(card("B"))
    (tmp_path / "personal" / ".hidden.vcf").write_bytes(card("Hidden"))
    (tmp_path / "personal" / "notes.txt").write_bytes(card("Text"))
    (tmp_path / "work" / "team" / "c.vcard").write_bytes(card("C"))
    (tmp_path / ".git" / "d.vcf").write_bytes(card("Git"))
    (tmp_path / "top.vcf").write_bytes(b"BEGIN:VCARD\r\nFN:Broken")
    (tmp_path / "gone.vcf").symlink_to(tmp_path / "nowhere.vcf")

    found = {str(path.relative_to(tmp_path)): result for path, result in read_vcard_files(tmp_path)}
    assert sorted(found) == [
        "gone.vcf",
        "personal/a.vcf",
        "personal/b.VCF",
        "top.vcf",
        "work/team/c.vcard",
    ]
    assert [c.name for c in found["personal/a.vcf"].cards] == ["A"]
    assert [c.name for c in found["work/team/c.vcard"].cards] == ["C"]
    assert found["top.vcf"] == VCardFile(cards=(), skipped=1)
    gone = found["gone.vcf"]
    assert gone.cards == () and gone.error is not None and "gone.vcf" in gone.error


def test_a_missing_path_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(SourceInvalid, match="no vCard file or folder"):
        list(read_vcard_files(tmp_path / "missing"))


def test_the_bundled_example_address_book() -> None:
    example = Path(__file__).parent.parent / "examples" / "contacts.vcf"
    assert example.exists(), "examples/contacts.vcf is part of the sample data"
    [(_, result)] = list(read_vcard_files(example))
    assert result.skipped == 0
    assert all(card.name and card.emails for card in result.cards)
