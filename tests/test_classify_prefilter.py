"""The literal prefilters of the subject patterns never change what the patterns find.

`_PROMO_HINT`/`_DIGIT_OR_MONEY` and `_ISSUE_HINT` only skip searches that cannot match; a
word added to a pattern but not to its hint would make this fail.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from syncd.ingest import classify_rules as rules

_PIECES = [
    *re.findall(r"[a-zäöü. ]+", rules._PROMO_SUBJECT.pattern + rules._ISSUE_SUBJECT.pattern),
    *"0123456789$€£%#٣ -.:x",
]
SUBJECTS = st.lists(st.sampled_from(_PIECES), max_size=8).map("".join) | st.text(max_size=60)


def _alternatives(pattern: re.Pattern[str]) -> list[str]:
    """The words of a pattern's last group as text: "deals?" -> "deals", "#\\d+" -> "#1"."""
    group = pattern.pattern.rpartition("(?:")[2].partition(")")[0]
    words = group.split("|")
    for old, new in (("\\s?", ""), ("\\d", "1"), ("\\.", "."), ("?", ""), ("+", "")):
        words = [w.replace(old, new) for w in words]
    return words


@pytest.mark.parametrize(
    "word", _alternatives(rules._PROMO_SUBJECT) + _alternatives(rules._ISSUE_SUBJECT)
)
def test_every_word_of_the_patterns_passes_its_hint(word: str) -> None:
    # "\\b#" wants a word character before it, "vol.\\b" one after it.
    subjects = [f"big {word} now", f"big{word} now", f"big {word}now"]
    assert any(rules._PROMO_SUBJECT.search(t) or rules._ISSUE_SUBJECT.search(t) for t in subjects)
    for subject in subjects:
        test_hints_never_hide_a_match.hypothesis.inner_test(subject)  # type: ignore[attr-defined]


def _found(m: re.Match[str] | None) -> str | None:
    return m.group(0) if m else None


@given(SUBJECTS)
@settings(max_examples=2000, deadline=None)
@example("summer sale: 20% off")
@example("the morning brief, no. 12")
def test_hints_never_hide_a_match(subject: str) -> None:
    hinted = rules._DIGIT_OR_MONEY.search(subject) or rules._PROMO_HINT.search(subject)
    promo = rules._PROMO_SUBJECT.search(subject)
    assert _found(promo) == (_found(promo) if hinted else None)
    assert _found(rules._issue(subject)) == _found(rules._ISSUE_SUBJECT.search(subject))
