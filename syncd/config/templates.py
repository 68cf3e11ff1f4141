"""A rule's `template` may name a built-in text (``template = "no_reply"``) instead of a file,
so a config keeps working wherever it is copied. A file of that name next to the config
wins; the name is kept as is and the executor looks it up in `DEFAULT_TEMPLATES`."""

from __future__ import annotations

from pathlib import Path

from rules.templates import DEFAULT_TEMPLATES


def builtin_or_error(value: Path, resolved: Path) -> Path:
    """`value` when it names a built-in text; else ValueError naming the file looked for."""
    name = str(value)
    if name in DEFAULT_TEMPLATES:
        return Path(name)
    names = ", ".join(sorted(DEFAULT_TEMPLATES))
    raise ValueError(
        f"no such template file: {resolved} (relative paths start at the config's folder;"
        f" built-in texts by name: {names})"
    )
