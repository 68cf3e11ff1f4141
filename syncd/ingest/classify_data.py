"""What the classifier knows about senders: the shipped data file plus the user's additions.

The data lives in ``syncd/data/senders.toml`` (package data, maintained with the code); the
config's ``[classify]`` section adds domains and local parts (see docs/classify.md).
`SenderData` compiles it once into sets and regular expressions the rules use per message.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

__all__ = ["SenderData", "default_sender_data", "domain_in"]

_LEET = str.maketrans("013457", "oleast")
_DOMAIN_WORDS = re.compile(r"[-.]")


def _alternation(words: Iterable[str]) -> str:
    return "|".join(map(re.escape, sorted(words)))


def domain_in(domain: str, domains: frozenset[str]) -> bool:
    """Whether `domain` is one of `domains` or a subdomain of one."""
    while domain:
        if domain in domains:
            return True
        domain = domain.partition(".")[2]
    return False


@dataclass(frozen=True, slots=True, eq=False)
class SenderData:
    sending_domains: frozenset[str]
    service_domains: frozenset[str]
    machine_local: re.Pattern[str]
    role_local: frozenset[str]
    platform_headers: tuple[str, ...]
    esp_headers: tuple[str, ...]
    bulk_mailers: re.Pattern[str]
    commerce_headers: tuple[str, ...]
    newsletter_domains: frozenset[str]
    newsletter_headers: tuple[str, ...]
    brands: tuple[tuple[str, frozenset[str]], ...]

    @classmethod
    def build(cls, data: Mapping[str, object]) -> SenderData:
        def words(key: str) -> list[str]:
            return [w.lower() for w in _strings(data, key)]

        brands = data.get("brands")
        return cls(
            sending_domains=frozenset(words("sending_domains")),
            service_domains=frozenset(words("service_domains")),
            machine_local=re.compile(
                rf"(?:.*[-_.+])?(?:{_alternation(words('machine_local_parts'))})(?:[-_.+].*)?"
            ),
            role_local=frozenset(words("role_local_parts")),
            platform_headers=tuple(words("platform_headers")),
            esp_headers=tuple(words("esp_headers")),
            bulk_mailers=re.compile(rf"\b(?:{_alternation(words('bulk_mailers'))})\b"),
            commerce_headers=tuple(words("commerce_headers")),
            newsletter_domains=frozenset(words("newsletter_domains")),
            newsletter_headers=tuple(words("newsletter_headers")),
            brands=tuple(
                (str(name).lower(), frozenset(str(d).lower() for d in domains))
                for name, domains in (brands.items() if isinstance(brands, dict) else ())
                if isinstance(domains, list)
            ),
        )

    def extended(
        self, sending_domains: Iterable[str] = (), machine_local_parts: Iterable[str] = ()
    ) -> SenderData:
        """The shipped data plus a user's sending domains and machine local parts."""
        # `build` lowercases.
        extra_domains = frozenset(d.strip().strip(".") for d in sending_domains)
        extra_locals = [p.strip() for p in machine_local_parts]
        if not extra_domains and not extra_locals:
            return self
        raw = _raw()
        merged = dict(raw)
        merged["sending_domains"] = [*_strings(raw, "sending_domains"), *extra_domains]
        merged["machine_local_parts"] = [*_strings(raw, "machine_local_parts"), *extra_locals]
        return SenderData.build(merged)

    def is_machine_local(self, local: str) -> bool:
        return _machine_local(self, local)

    def bulk_mailer(self, x_mailer: str) -> str | None:
        """The mass mailer a lowercased X-Mailer value names, if any."""
        return _bulk_mailer(self, x_mailer) if x_mailer else None

    def look_alike(self, domain: str) -> str | None:
        """The brand a sender domain imitates, if it names one it does not belong to."""
        return _look_alike(self, domain)

    def _look_alike(self, domain: str) -> str | None:
        # Whole words of the domain only: "paypal-secure", "paypa1", not "pineapple".
        words = set(_DOMAIN_WORDS.split(domain)) | set(_DOMAIN_WORDS.split(domain.translate(_LEET)))
        for brand, domains in self.brands:
            if brand in words and not domain_in(domain, domains):
                return brand
        return None


# A mailbox has few distinct senders: the answers are kept per (data, value). SenderData
# compares by identity, so a user's extended data never shares answers with the default.
@lru_cache(maxsize=8192)
def _machine_local(data: SenderData, local: str) -> bool:
    return data.machine_local.fullmatch(local) is not None


# X-Mailer values repeat too (a few programs and versions), and searching the list of mass
# mailers in one costs more than the rest of the rule.
@lru_cache(maxsize=4096)
def _bulk_mailer(data: SenderData, x_mailer: str) -> str | None:
    m = data.bulk_mailers.search(x_mailer)
    return m.group(0) if m else None


@lru_cache(maxsize=8192)
def _look_alike(data: SenderData, domain: str) -> str | None:
    return data._look_alike(domain)


def _strings(data: Mapping[str, object], key: str) -> list[str]:
    value = data.get(key)
    return [str(v) for v in value] if isinstance(value, list) else []


@cache
def _raw() -> dict[str, object]:
    text = resources.files("syncd").joinpath("data/senders.toml").read_text("utf-8")
    return tomllib.loads(text)


@cache
def default_sender_data() -> SenderData:
    return SenderData.build(_raw())
