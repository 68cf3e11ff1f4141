"""Every classifier test starts with the classifier's answer caches empty.

`families_of`, `_machine_sender_of`, `_relays_name` and the sender data's look-ups keep
their answers per input for the whole process. A test that classifies a message another
test already classified would then read the old answer and never run the rule it means to
check: under mutmut, which forks each mutant's run from a process that has already run
every test, a broken `families` or `_named_person` went unnoticed that way. The test
modules of the classifier import `fresh_classifier_caches` so that each test computes its
answers itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import _lru_cache_wrapper
from typing import Any

import pytest

from connectors.base import RawMessage
from syncd.ingest import classify, classify_data, classify_families, classify_rules
from syncd.ingest.addresses import OwnerIdentity

CACHES: tuple[_lru_cache_wrapper[Any], ...] = (
    classify_families.families_of,
    classify._parties_of,
    classify_rules._machine_sender_of,
    classify_rules._relays_name,
    classify_data._machine_local,
    classify_data._bulk_mailer,
    classify_data._look_alike,
)


@pytest.fixture(autouse=True)
def fresh_classifier_caches() -> Iterator[None]:
    for cache in CACHES:
        cache.cache_clear()
    yield


def test_each_test_starts_with_empty_caches() -> None:
    assert all(cache.cache_info().currsize == 0 for cache in CACHES)


def test_the_caches_are_the_ones_classify_fills() -> None:
    owner = OwnerIdentity.from_config("Alex", ["alex@example.com"], [])
    msg = RawMessage(
        "p",
        "INBOX",
        (
            ("From", "Priya (Google Docs) <comments-noreply@docs.google.com>"),
            ("To", "alex@example.com"),
            ("X-Mailer", "SubscriptionCenter"),
        ),
    )
    classify.classify(msg, owner)
    assert all(cache.cache_info().currsize > 0 for cache in CACHES)
