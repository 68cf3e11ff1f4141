"""Bounded IN lists: where a list of values is bounded by construction (a page, a batch,
one plan's actions), it still goes to the database in chunks of `IN_CHUNK`, far below
PostgreSQL's 65,535 parameters and SQLite's limit. A list that comes from another query is
a subquery instead, never a list."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

IN_CHUNK = 500


def chunked(values: Iterable[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    """`values` in lists of at most `size`, in order."""
    chunk: list[T] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
