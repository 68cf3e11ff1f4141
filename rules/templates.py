"""Draft texts from Jinja2 templates, rendered in a sandbox that no template can escape.

`render(text, context)` renders plain text (no HTML escaping) with `StrictUndefined`, so a
misspelt name fails instead of leaving a gap in a mail. Templates come from the user's
config and are treated as untrusted: `rules.sandbox` blocks Python internals and caps
memory and work. Every failure (bad syntax, an undefined or unsafe name, a type error, a
limit) raises `TemplateFailed` with one line that says what and, when known, where.

A template may begin with a ``Subject: ...`` line and a blank line; `split_subject`
separates them. When it does, the subject replaces the one the planner proposed; the
built-in ``no_reply`` text has none, so its reply keeps the thread's "Re:" subject.
`header_safe` makes any text (a contact's name, a subject) safe for one header line.

The context a template sees (the planner builds it, `rules.drafting`; it is stored with
the action as JSON and handed to a writer command as JSON too, so times are ISO 8601
strings in UTC; every key is always present, and any value documented as "or None" can be
None, so write ``{{ contact.first_name or contact.name or "there" }}``)::

    contact           id, name, first_name, email, tier, timezone  (all but id, email: or None)
    owner             name, address
    last_interaction  at (ISO time, or None), subject (or None)
    thread_subject    the subject of the thread a no_reply draft answers, or None
    meeting           subject (or None), start, end (ISO times)   -- after_meeting, else None
    date              kind ("birthday" | "anniversary" | "custom"), label (or None),
                      date (ISO date it falls on), years (how many years, or None)
                                                                  -- date, else None
    rule              name, kind
    reason            why the action is due, one line of text
    due_at            when the action is due (ISO time)

`DEFAULT_TEMPLATES` holds the built-in text for each rule kind.
"""

from __future__ import annotations

import functools
import re
import traceback
from collections.abc import Mapping

from jinja2 import Template, TemplateError, TemplateNotFound, TemplateSyntaxError

from rules.sandbox import (
    OUTPUT_LIMIT,
    SOURCE_LIMIT,
    HardenedEnvironment,
    end_budget,
    start_budget,
    wrap_context,
)

__all__ = [
    "DEFAULT_TEMPLATES",
    "TemplateFailed",
    "header_safe",
    "render",
    "split_subject",
]


class TemplateFailed(Exception):
    """A template could not be rendered; the message is one line for the user."""


_ENV = HardenedEnvironment()


def render(template_text: str, context: Mapping[str, object]) -> str:
    """Render `template_text` with `context` in the sandbox; raises `TemplateFailed`."""
    if len(template_text) > SOURCE_LIMIT:
        raise TemplateFailed(f"template is longer than {SOURCE_LIMIT} characters")
    token = start_budget()
    try:
        return _render(template_text, context)
    except TemplateFailed:
        raise
    except Exception as exc:  # a hostile template can provoke any exception at all
        raise TemplateFailed(_describe(exc)) from exc
    finally:
        end_budget(token)


def _render(template_text: str, context: Mapping[str, object]) -> str:
    template = _compile(template_text)
    chunks: list[str] = []
    total = 0
    stream = template.generate(wrap_context(context, ""))
    try:
        for chunk in stream:
            total += len(chunk)
            if total > OUTPUT_LIMIT:
                raise TemplateFailed(f"template output is longer than {OUTPUT_LIMIT} characters")
            chunks.append(chunk)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return "".join(chunks)


@functools.lru_cache(maxsize=64)
def _compile(template_text: str) -> Template:
    return _ENV.from_string(_ENV.harden(template_text))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TemplateSyntaxError):
        where = f" at line {exc.lineno}" if exc.lineno else ""
        return _one_line(f"template syntax error{where}: {exc.message}")
    if isinstance(exc, TemplateNotFound):
        message = f"template cannot include or import other templates ({exc.name!r})"
    elif isinstance(exc, RecursionError):
        message = "template recursed too deeply"
    elif isinstance(exc, MemoryError):
        message = "template ran out of memory"
    elif isinstance(exc, TemplateError):
        text = exc.message or type(exc).__name__
        message = text if text.startswith("template") else f"template error: {text}"
    else:
        message = f"template failed: {type(exc).__name__}: {exc}"
    line = _template_line(exc)
    if line is not None:
        message += f" (line {line})"
    return _one_line(message)


def _template_line(exc: BaseException) -> int | None:
    """The template line a runtime error happened on (Jinja rewrites the traceback)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


def _one_line(message: str, limit: int = 300) -> str:
    return header_safe(" ".join(message.split()), limit)


# --- subject and header lines ------------------------------------------------------------

_SUBJECT_LINE = re.compile(r"subject:[ \t]*(.*?)[ \t]*", re.IGNORECASE)
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\r?\n)+")
_CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_CONTROL_RUN = re.compile(rf"[\s{_CONTROL}]*[{_CONTROL}][\s{_CONTROL}]*")


def split_subject(rendered: str) -> tuple[str | None, str]:
    """(subject, body) when the text starts with a ``Subject:`` line, else (None, text).

    Blank lines before the subject line are ignored, and one blank line after it is
    dropped. The subject is made `header_safe`; an empty one is None.
    """
    text = _LEADING_BLANK_LINES.sub("", rendered)
    first, newline, rest = text.partition("\n")
    match = _SUBJECT_LINE.fullmatch(first.rstrip("\r"))
    if match is None:
        return None, rendered
    subject = header_safe(match.group(1)) or None
    if not newline:
        return subject, ""
    line, newline, after = rest.partition("\n")
    if not line.strip():
        return subject, after
    return subject, rest


def header_safe(value: str, limit: int = 300) -> str:
    """`value` on one line: runs of control characters (CR, LF, TAB, NEL, U+2028/U+2029
    and the rest) with the spaces around them become one space; then trimmed and cut to
    `limit` characters."""
    return _CONTROL_RUN.sub(" ", value).strip()[:limit].rstrip()


# --- built-in templates ------------------------------------------------------------------

DEFAULT_TEMPLATES: dict[str, str] = {
    "cadence": """\
Subject: Catching up{% if contact.first_name %}, {{ contact.first_name }}{% endif %}

Hi {{ contact.first_name or contact.name or "there" }},

It has been a little while since we last spoke, and I wanted to check in. How are things \
on your side?

If you have time in the coming weeks, I would be glad to catch up over a short call.

Best regards,
{{ owner.name }}
""",
    "no_reply": """\
Hi {{ contact.first_name or contact.name or "there" }},

I wanted to follow up on my last email\
{% if thread_subject %} about "{{ thread_subject }}"{% endif %}. \
Did you have a chance to look at it?

No rush, I just want to make sure it did not get lost in your inbox.

Best regards,
{{ owner.name }}
""",
    "after_meeting": """\
Subject: Thank you{% if meeting.subject %}: {{ meeting.subject }}{% endif %}

Hi {{ contact.first_name or contact.name or "there" }},

Thank you for taking the time to meet. I enjoyed the conversation and will follow up on \
what we discussed.

In the meantime, let me know if anything else comes up.

Best regards,
{{ owner.name }}
""",
    "dormant": """\
Subject: It has been a while{% if contact.first_name %}, {{ contact.first_name }}{% endif %}

Hi {{ contact.first_name or contact.name or "there" }},

It has been quite some time since we were last in touch, and you came to mind. How have \
you been?

I would be glad to hear what you are working on these days.

Best regards,
{{ owner.name }}
""",
    "date": """\
Subject: {% if date.kind == "birthday" %}Happy birthday\
{% elif date.kind == "anniversary" %}Happy anniversary\
{% else %}Congratulations{% endif %}\
{% if contact.first_name %}, {{ contact.first_name }}{% endif %}!

Hi {{ contact.first_name or contact.name or "there" }},

{% if date.kind == "birthday" %}\
Happy birthday! I hope you have a wonderful day and a great year ahead.\
{% elif date.kind == "anniversary" %}\
Happy anniversary{% if date.years %}, {{ date.years }} years{% endif %}! \
Wishing you all the best.\
{% else %}\
{{ date.label or "A special day" }}{% if date.years %}: {{ date.years }} years{% endif %}! \
Congratulations, and all the best.\
{% endif %}

Best regards,
{{ owner.name }}
""",
}
