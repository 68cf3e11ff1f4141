"""'did you mean' for a config key syncd does not know (`pasword_file`, `adresses`).

The candidates are the field names of every model of the config schema, so a misspelt key
anywhere (an account's, a rule's, a calendar's) finds its neighbour.
"""

from __future__ import annotations

import difflib
from functools import cache

from pydantic import BaseModel


@cache
def schema_keys(root: type[BaseModel]) -> tuple[str, ...]:
    """Every key the config schema knows, in any section: the fields of `root` (the schema's
    base model) and of every model derived from it."""
    seen: set[str] = set()
    todo: list[type[BaseModel]] = [root]
    while todo:
        model = todo.pop()
        seen.update(model.model_fields)
        todo.extend(model.__subclasses__())
    return tuple(sorted(seen))


def did_you_mean(loc: tuple[int | str, ...], root: type[BaseModel]) -> str:
    """``" (did you mean 'password_file'?)"`` for the last key of `loc`, or ``""``."""
    key = next((str(part) for part in reversed(loc) if isinstance(part, str)), "")
    close = difflib.get_close_matches(key, schema_keys(root), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""
