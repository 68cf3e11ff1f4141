"""The one sanitiser for text from outside: names, subjects, summaries, card fields.

Anyone can send the owner mail or an invitation, so a display name or a subject may carry
terminal escape sequences (hyperlinks, a screen clear, a window title), C0 and C1 control
characters, or bidi overrides that make text read backwards. `clean_line` and
`clean_block` remove all of these and cap the length; they are applied once, where text
enters the store (ingest, vCard import, ``contacts set``), so everything read back from
the store is plain text. `terminal_text` is the same cleaning without the cap, for what
reaches a terminal without passing the store (template output, server error messages,
folder names); `syncd.cli.text` applies it to every data cell.

Rich markup (``[bold]``, ``[link=...]``) is not removed: it is harmless text in the store,
and the terminal output never parses data as markup (see `syncd.cli.text`).
"""

from __future__ import annotations

import re
from typing import Any

MAX_LINE = 1000  # a name, a subject, a summary, an organisation
MAX_BLOCK = 10_000  # notes

# Escape sequences whole, so that no "[31m" or "]8;;https://..." is left behind: CSI
# (ESC [ or its 8-bit form), OSC (ESC ] or 8-bit, up to BEL or ST), DCS/SOS/PM/APC strings,
# then any other two-character escape.
_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# C0 and DEL and C1, bidi controls, and the Unicode line and paragraph separators
_LINE_CONTROLS = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_BIDI}\u2028\u2029]+")
_BLOCK_CONTROLS = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_BIDI}\u2028\u2029]+")
_SPACES = re.compile(r"\s{2,}")


def clean_line(value: str | None, limit: int = MAX_LINE) -> str | None:
    """One line of plain text: no escapes or controls, white space collapsed, at most
    `limit` characters. None stays None; text that is left empty becomes None."""
    if value is None:
        return None
    if value.isprintable() and "  " not in value:
        # Nearly every name and subject: every escape, control and separator the
        # expressions remove is unprintable, and the only white space left is the ASCII
        # space. Three substitutions per party were a tenth of preparing a batch.
        return value.strip()[:limit].rstrip() or None
    text = _LINE_CONTROLS.sub(" ", _SEQUENCES.sub("", value))
    text = _SPACES.sub(" ", text).strip()[:limit].rstrip()
    return text or None


def clean_block(value: str | None, limit: int = MAX_BLOCK) -> str | None:
    """Plain text that may hold line breaks and tabs (notes); otherwise as `clean_line`."""
    if value is None:
        return None
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    text = _BLOCK_CONTROLS.sub(" ", _SEQUENCES.sub("", text)).strip()[:limit].rstrip()
    return text or None


def clean_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A contact's settings with its free-text ones (name, organisation, notes) cleaned."""
    out = dict(fields)
    for name in ("name", "organisation"):
        if isinstance(out.get(name), str):
            out[name] = clean_line(out[name], 300)
    if isinstance(out.get("notes"), str):
        out["notes"] = clean_block(out["notes"])
    return out


def terminal_text(value: str) -> str:
    """`value` safe to write to a terminal: line breaks and tabs kept, no length cap."""
    if value.isascii() and value.isprintable():
        return value
    return _BLOCK_CONTROLS.sub(" ", _SEQUENCES.sub("", value.replace("\r\n", "\n")))
