"""Data on the terminal is data: never parsed as rich markup, never a control sequence.

A display name ``[/bold]`` used to end `contacts list` in a `rich.errors.MarkupError`, and
``[link=https://...]Click[/link]`` became a live hyperlink. Every value that came from
outside (names, subjects, addresses, folder names, server errors, template output) goes to
the terminal as a `rich.text.Text` built by `cell`, which rich prints as it is, after
`syncd.ingest.sanitize.terminal_text` took out escape sequences and control characters. A
`DataTable` does that for every string cell and for its title; our own markup goes in as a
`Text` with a style.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from syncd.ingest.sanitize import terminal_text


def cell(value: object, style: str = "") -> Text:
    """`value` as plain text for the terminal; None is empty."""
    return Text("" if value is None else terminal_text(str(value)), style=style)


class DataTable(Table):
    """A `rich.table.Table` whose string cells and title are data, not markup."""

    def __init__(self, *headers: Any, title: Any = None, **kwargs: Any) -> None:
        super().__init__(*headers, title=cell(title) if isinstance(title, str) else title, **kwargs)

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        super().add_row(*(cell(r) if isinstance(r, str) else r for r in renderables), **kwargs)


def escaped(value: object) -> str:
    """`value` for a place that takes rich markup (a progress bar's description)."""
    return escape(terminal_text(str(value)))
