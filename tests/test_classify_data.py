"""The classifier's sender data: building it from the shipped file and a user's additions."""

from __future__ import annotations

from syncd.ingest.classify_data import SenderData, default_sender_data, domain_in
from tests.test_classify_caches import fresh_classifier_caches  # noqa: F401 (autouse)

RAW: dict[str, object] = {
    "sending_domains": ["Mail.Acme.example"],
    "service_domains": "not a list",
    "machine_local_parts": ["NoReply", "a.b"],
    "role_local_parts": ["Info"],
    "platform_headers": ["X-Acme-"],
    "esp_headers": ["Feedback-ID"],
    "bulk_mailers": ["Mass Mailer", "Blast"],
    "commerce_headers": ["X-Shop"],
    "newsletter_domains": ["Letters.example"],
    "newsletter_headers": ["X-Letter"],
    "brands": {"Acme": ["Acme.example", "acme.test"], "Broken": "acme.example"},
}


def test_build_lowercases_every_list_and_ignores_what_is_no_list() -> None:
    d = SenderData.build(RAW)
    assert d.sending_domains == frozenset({"mail.acme.example"})
    assert d.service_domains == frozenset()
    assert d.role_local == frozenset({"info"})
    assert d.platform_headers == ("x-acme-",)
    assert d.esp_headers == ("feedback-id",)
    assert d.commerce_headers == ("x-shop",)
    assert d.newsletter_domains == frozenset({"letters.example"})
    assert d.newsletter_headers == ("x-letter",)
    assert d.brands == (("acme", frozenset({"acme.example", "acme.test"})),)
    assert SenderData.build({"brands": ["acme"]}).brands == ()


def test_machine_local_parts_match_whole_or_as_a_part() -> None:
    d = SenderData.build(RAW)
    for local in ("noreply", "comments-noreply", "noreply+bounce", "x.noreply.y", "a.b", "c_a.b"):
        assert d.is_machine_local(local), local
    for local in ("noreplyx", "xnoreply", "axb", "jamie", ""):
        assert not d.is_machine_local(local), local


def test_bulk_mailers_match_whole_words() -> None:
    d = SenderData.build(RAW)
    m = d.bulk_mailers.search("mass mailer 2.0 (build 7)")
    assert m is not None and m.group(0) == "mass mailer"
    assert d.bulk_mailers.search("blast") is not None
    assert d.bulk_mailers.search("amass mailers") is None
    assert d.bulk_mailers.search("blasted") is None


def test_domain_in_takes_subdomains_not_suffixes() -> None:
    domains = frozenset({"acme.example"})
    assert domain_in("acme.example", domains)
    assert domain_in("mail.eu.acme.example", domains)
    assert not domain_in("notacme.example", domains)
    assert not domain_in("acme.example.org", domains)
    assert not domain_in("", domains)


def test_look_alikes_name_a_brand_they_do_not_belong_to() -> None:
    d = SenderData.build(RAW)
    assert d.look_alike("acme-secure.example") == "acme"
    assert d.look_alike("4cme-login.example") == "acme"  # digits for letters
    assert d.look_alike("acme.example") is None
    assert d.look_alike("mail.acme.test") is None
    assert d.look_alike("example.org") is None
    shipped = default_sender_data()
    assert shipped.look_alike("office365-mailbox-verify.example") == "office365"
    assert shipped.look_alike("paypa1-secure.example") == "paypal"
    assert shipped.look_alike("paypal.de") is None


def test_extended_adds_to_the_shipped_data() -> None:
    shipped = default_sender_data()
    assert default_sender_data() is shipped
    assert shipped.extended() is shipped
    d = shipped.extended([" XHR.Example.org. "], [" Intercom "])
    assert d is not shipped
    assert "xhr.example.org" in d.sending_domains and "docusign.net" in d.sending_domains
    assert d.is_machine_local("intercom") and d.is_machine_local("noreply")
    assert not shipped.is_machine_local("intercom")
    assert d.service_domains == shipped.service_domains
    only_locals = shipped.extended((), ["doorbell"])
    assert only_locals.is_machine_local("doorbell")
    assert only_locals.sending_domains == shipped.sending_domains
    only_domains = shipped.extended(["x.example"])
    assert "x.example" in only_domains.sending_domains
    assert not only_domains.is_machine_local("doorbell")


def test_the_shipped_file_has_every_section() -> None:
    d = default_sender_data()
    assert {"docusign.net", "sharepointonline.com"} <= d.sending_domains
    assert {"ups.com", "google.com"} <= d.service_domains
    assert {"info", "support"} <= d.role_local
    assert "x-github-reason" in d.platform_headers and "feedback-id" in d.esp_headers
    assert d.bulk_mailers.search("subscriptioncenter") is not None
    assert "x-klaviyo" in d.commerce_headers and "substack.com" in d.newsletter_domains
    assert "x-beehiiv" in d.newsletter_headers and dict(d.brands)["paypal"]


def test_a_brand_inside_another_word_is_no_look_alike() -> None:
    d = SenderData.build(RAW)
    assert d.look_alike("acmeville.example") is None
    assert d.look_alike("secure.acme.login.example") == "acme"
    shipped = default_sender_data()
    assert shipped.look_alike("pineapple-shop.example") is None
    assert shipped.look_alike("apple-id-locked.example") == "apple"
