"""`clean_line`'s shortcut for printable text gives what its expressions give."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from syncd.ingest import sanitize

# The characters the expressions act on, and printable text with and without runs of
# spaces (what takes the shortcut, and what only nearly could).
_TRICKY = st.sampled_from(
    [" ", "  ", "\t", "\n", "\x1b[31m", "\x9b2J", "\u200e", "\u202e", "\u2028", "\xa0", "\u3000"]
)
_MIXED = st.lists(st.one_of(st.text(max_size=8), _TRICKY), max_size=12).map("".join)
_PRINTABLE = st.text(" ab é", max_size=16)


def _by_expressions(value: str, limit: int) -> str | None:
    text = sanitize._LINE_CONTROLS.sub(" ", sanitize._SEQUENCES.sub("", value))
    text = sanitize._SPACES.sub(" ", text).strip()[:limit].rstrip()
    return text or None


@given(st.one_of(_PRINTABLE, _MIXED), st.integers(min_value=1, max_value=40))
@example("Ann  Lee", 40)
@example(" Ann Lee ", 4)
def test_clean_line_equals_the_expressions(value: str, limit: int) -> None:
    assert sanitize.clean_line(value, limit) == _by_expressions(value, limit)
