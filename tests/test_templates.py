"""Draft templates: rendering, the sandbox against hostile templates, subjects, headers."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from rules.sandbox import CHAR_LIMIT, STEP_LIMIT
from rules.templates import (
    DEFAULT_TEMPLATES,
    TemplateFailed,
    header_safe,
    render,
    split_subject,
)

CONTEXT: dict[str, object] = {
    "contact": {
        "name": "Lena Bergmann",
        "first_name": "Lena",
        "email": "lena@bergmann.example",
        "tier": "key",
        "timezone": "Europe/Berlin",
    },
    "owner": {"name": "Alex Morgan", "address": "alex@example.com"},
    "last_interaction": {"at": datetime(2026, 3, 2, 10, 0, tzinfo=UTC), "subject": "Offer"},
    "thread_subject": "Offer for the spring workshop",
    "meeting": {
        "subject": "Kickoff",
        "start": datetime(2026, 3, 5, 14, 0, tzinfo=UTC),
        "end": datetime(2026, 3, 5, 15, 0, tzinfo=UTC),
    },
    "date": {"kind": "birthday", "label": None, "date": date(2026, 4, 12), "years": None},
    "rule": {"name": "key-contacts", "kind": "cadence"},
    "reason": "no contact for 15 days (cadence 14 days)",
}

SPARSE: dict[str, object] = {
    "contact": {
        "name": None,
        "first_name": None,
        "email": "someone@example.org",
        "tier": None,
        "timezone": None,
    },
    "owner": {"name": "Alex Morgan", "address": "alex@example.com"},
    "last_interaction": None,
    "thread_subject": None,
    "meeting": {"subject": None, "start": CONTEXT["meeting"], "end": CONTEXT["meeting"]},
    "date": {"kind": "custom", "label": None, "date": date(2026, 4, 12), "years": None},
    "rule": {"name": "r", "kind": "cadence"},
    "reason": "r",
}


def failure(template: str, context: dict[str, object] | None = None) -> str:
    with pytest.raises(TemplateFailed) as info:
        render(template, CONTEXT if context is None else context)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    return message


# --- ordinary rendering ------------------------------------------------------------------


def test_renders_plain_text_without_escaping() -> None:
    out = render("Hi {{ contact.first_name }} <b>&</b> {{ '<i>' }}", CONTEXT)
    assert out == "Hi Lena <b>&</b> <i>"


def test_keeps_the_trailing_newline() -> None:
    assert render("Hi\n", CONTEXT) == "Hi\n"


def test_common_template_features_work_inside_the_sandbox() -> None:
    context = {"tags": ["a", "b", "c"], "n": 3, "when": datetime(2026, 3, 1, 9, 30, tzinfo=UTC)}
    template = (
        "{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}in{% endcall %} "
        "{% for t in tags %}{{ loop.index }}{{ t|upper }}{% endfor %} "
        "{{ tags|join(', ') }} {{ 'b' in tags }} {{ 1 < n < 5 }} {{ missing is defined }} "
        "{{ when.strftime('%A') }} {{ '%s=%d'|format('n', n) }} {{ '{}/{}'.format(n, n * 2) }} "
        "{% filter upper %}x{{ 'y' ~ n }}{% endfilter %} {% set c %}c{{ n }}{% endset %}{{ c }} "
        "{{ range(3)|list }} {{ 'abc'[1:] }} {{ n ** 2 }} {{ 'ab' * 2 }} {{ tags }} "
        "{% for x in [[1, [2]], [3]] recursive %}{{ x if x is number else loop(x) }}{% endfor %}"
    )
    assert render(template, context) == (
        "[in] 1A2B3C a, b, c True True False Sunday n=3 3/6 XY3 c3 [0, 1, 2] bc 9 abab "
        "['a', 'b', 'c'] 123"
    )


def test_render_does_not_change_the_context() -> None:
    context: dict[str, object] = {"contact": {"name": "Lena"}, "tags": ["a"]}
    render("{{ contact.name }}{{ tags }}", context)
    assert context == {"contact": {"name": "Lena"}, "tags": ["a"]}
    assert type(context["contact"]) is dict


# --- clear failures ----------------------------------------------------------------------


def test_undefined_names_are_reported_with_their_path() -> None:
    assert failure("{{ contact.nickname }}").startswith(
        "template uses an undefined value 'contact.nickname'"
    )
    assert failure("{{ nobody }}").startswith("template uses an undefined value 'nobody'")
    assert "of a value that is None" in failure("{{ last_interaction.at }}", SPARSE)


def test_runtime_errors_name_the_template_line() -> None:
    message = failure("one\ntwo\n{{ contact.nickname }}")
    assert message.endswith("(line 3)")
    assert failure("{{ 1 / 0 }}") == "template failed: ZeroDivisionError: division by zero (line 1)"


def test_syntax_errors_name_the_line() -> None:
    message = failure("Hi\n\n{% if contact.name %}never closed")
    assert message.startswith("template syntax error at line 3:")


def test_unknown_filters_are_syntax_errors() -> None:
    assert failure("{{ 'x'|no_such_filter }}").startswith("template syntax error at line 1:")


def test_templates_cannot_include_other_files() -> None:
    for template in (
        "{% include '/etc/passwd' %}",
        "{% extends 'base' %}",
        "{% import 'm' as m %}",
    ):
        assert "cannot include, import or extend" in failure(template)


def test_long_template_source_is_refused() -> None:
    assert failure("x" * 100_001) == "template is longer than 100000 characters"


def test_output_is_capped() -> None:
    message = failure("{% for i in range(3) %}{{ 'x' * 60000 }}{% endfor %}")
    assert message == "template output is longer than 100000 characters"


def test_a_failed_render_leaves_no_spent_budget_behind() -> None:
    failure("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}")
    assert render("{% for i in range(5000) %}.{% endfor %}", {}) == "." * 5000


# --- hostile templates -------------------------------------------------------------------

S = "{% set s = 'x' * 99999 %}"
HOSTILE = [
    ("{{ ''.__class__ }}", "template tried to reach an unsafe attribute '__class__'"),
    ("{{ ''.__class__.__mro__ }}", "unsafe attribute '__class__'"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe attribute '__class__'"),
    ("{{ cycler.__init__.__globals__ }}", "unsafe attribute '__init__'"),
    ("{{ joiner.__call__.__globals__.os }}", "unsafe attribute '__call__'"),
    ("{{ self.__init__ }}", "unsafe attribute '__init__'"),
    ("{{ self._TemplateReference__context }}", "unsafe attribute"),
    ("{{ 'abc'|attr('__class__') }}", "unsafe attribute '__class__'"),
    ("{{ dict.mro() }}", "unsafe attribute 'mro'"),
    ("{{ contact.pop('name') }}", "unsafe attribute 'pop'"),
    ("{{ contact.update({'x': 1}) }}", "unsafe attribute 'update'"),
    ("{{ 'x'.translate({120: 'yyyy'}) }}", "unsafe attribute 'translate'"),
    ("{{ (1).to_bytes(10**6, 'big') }}", "unsafe attribute 'to_bytes'"),
    ("{{ lipsum(10**6) }}", "undefined value 'lipsum'"),
    ("{% set ns = namespace(a=1) %}", "undefined value 'namespace'"),
    ("{% for i in range(10**9) %}{% endfor %}", "range of 1000000000 items (limit 10000)"),
    ("{{ range(10**9)|list }}", "range of 1000000000 items"),
    ("{{ 'x' * 10**9 }}", "about 1000000000 characters with *"),
    ("{{ [1] * 10**9 }}", "characters with *"),
    ("{{ [[]] * 10**9 }}", "characters with *"),
    (S + "{{ [s] * 10000 }}", "characters with *"),
    ("{{ 2 ** 100000 }}", "number of about 200000 bits"),
    ("{{ 10 ** (10 ** 10) }}", "bits"),
    ("{{ 'x'|center(10**9) }}", "passed 1000000000 to 'filter center'"),
    ("{{ 'x'.center(10**9) }}", "passed 1000000000 to 'str.center'"),
    ("{{ 'x'.ljust(99999) * 99999 }}", "characters with *"),
    (S + "{{ s.replace('', s) }}", "with replace"),
    (S + "{{ s|replace('', s) }}", "with |replace"),
    ("{{ ('\n' * 99999)|indent(99999) }}", "with |indent"),
    (S + "{{ s|wordwrap(1, wrapstring=s) }}", "with |wordwrap"),
    (S + "{{ [s, s, s, s, s, s, s, s, s, s, s]|join }}", "with |join"),
    (S + "{{ s.join([s, s, s, s, s, s, s, s, s, s, s]) }}", "with join"),
    (S + "{{ ('{0}' * 25000).format(s) }}", "with format"),
    ("{{ '{:>99999999}'.format(1) }}", "with format"),
    ("{{ '%99999999d' % 1 }}", "with %"),
    ("{{ '%99999999d'|format(1) }}", "with |format"),
    ("{{ 'x'*99999 ~ 'y'*99999 }}", "built a value over 100000 characters"),
    ("{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('x') }}", "over 100000 characters"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "template recursed too deeply"),
    ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "template recursed too deeply"),
    ("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", "template recursed too deeply"),
    (
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        f"template does too much work (over {STEP_LIMIT} steps)",
    ),
    (
        "{% for a in 'x' * 99999 %}{% for b in 'y' * 99999 %}{% endfor %}{% endfor %}",
        "too much work",
    ),
    (
        "{% for x in range(10) recursive %}{% if loop.depth < 9 %}{{ loop(range(10)) }}"
        "{% endif %}{% endfor %}",
        "too much work",
    ),
    (
        S + "{% for i in range(10000) %}{% for j in range(100) %}{% if s == s ~ '' %}"
        "{% endif %}{% endfor %}{% endfor %}",
        "too much",
    ),
    (
        S + "{% filter upper %}{% for i in range(10000) %}{{ s }}{% endfor %}{% endfilter %}",
        f"template produces too much text (over {CHAR_LIMIT} characters)",
    ),
    (S + "{% set y %}{% for i in range(10000) %}{{ s }}{% endfor %}{% endset %}", "too much text"),
    ("{{ range(10000)|map('center', 99999)|join }}", "too much text"),
    ("{{ ([[1] * 10000] * 10000)|sum(start=[]) }}", "characters with *"),
    ("{{ ([[1] * 1000] * 10)|sum(start=[]) }}", "template can only sum numbers"),
    (S + "{{ s|wordwrap(1)|length }}", "too much work"),
    ("{{ 'a'|int(base=10**9) }}", "passed 1000000000 to 'filter int'"),
    # string methods pay for the string they scan (the probe: 6.4 s of CPU per render)
    (S + "{% for i in range(10000) %}{{ s.find('xxy') }}{% endfor %}", "too much text"),
    (S + "{% for i in range(10000) %}{{ s.count('xy') }}{% endfor %}", "too much text"),
    (S + "{% for i in range(10000) %}{{ s.rfind('yx') }}{% endfor %}", "too much text"),
    (S + "{% for i in range(10000) %}{{ s.isalpha() }}{% endfor %}", "too much text"),
    (S + "{% for i in range(10000) %}{{ s.replace('y', 'z')|length }}{% endfor %}", "too much"),
]


@pytest.mark.parametrize(("template", "expected"), HOSTILE)
def test_hostile_templates_fail_fast_with_a_clear_message(template: str, expected: str) -> None:
    # CPU time, not wall time: the bound is on the work a template can cause, and it holds
    # on a loaded machine too (the render runs in this process).
    started = time.process_time()
    message = failure(template)
    elapsed = time.process_time() - started
    assert expected in message
    assert message.startswith("template")
    assert elapsed < 2.0, f"took {elapsed:.2f} s of CPU"


# --- subjects and header safety ----------------------------------------------------------


def test_split_subject() -> None:
    assert split_subject("Subject: Hello\n\nBody\n") == ("Hello", "Body\n")
    assert split_subject("subject:Hello\r\n\r\nBody") == ("Hello", "Body")
    assert split_subject("\n\nSubject:  Hello  \n\nBody") == ("Hello", "Body")
    assert split_subject("Subject: Hello\nBody") == ("Hello", "Body")
    assert split_subject("Subject: Hello") == ("Hello", "")
    assert split_subject("Subject:\n\nBody") == (None, "Body")
    assert split_subject("Hi,\nSubject: not a header\n") == (None, "Hi,\nSubject: not a header\n")
    assert split_subject("Subjects: x\n\nBody") == (None, "Subjects: x\n\nBody")


def test_header_safe_collapses_line_breaks_and_controls() -> None:
    assert header_safe("Lena\r\nBcc: evil@example.net") == "Lena Bcc: evil@example.net"
    assert (
        header_safe("a\rb\nc\x85d\u2028e\u2029f\x0bg\x0ch\x00i\tj\x1ek") == "a b c d e f g h i j k"
    )
    assert header_safe("  a \r\n\r\n  b  ") == "a b"
    assert header_safe("a  b") == "a  b"
    assert header_safe("x" * 500) == "x" * 300
    assert header_safe("abcdef", limit=3) == "abc"
    assert header_safe("Zoë Ångström") == "Zoë Ångström"


def test_a_name_with_line_breaks_cannot_start_a_header() -> None:
    name = "Lena\r\nBcc: evil@example.net\n\nHi"
    template = "Subject: Hello {{ contact.name }}\n\nBody"
    # raw: the subject line ends at the first break; whatever follows is body text
    subject, _ = split_subject(render(template, {"contact": {"name": name}}))
    assert subject == "Hello Lena"
    # made header-safe before it enters the context, the whole name stays on the line
    subject, body = split_subject(render(template, {"contact": {"name": header_safe(name)}}))
    assert subject == "Hello Lena Bcc: evil@example.net Hi"
    assert body == "Body"


# --- built-in templates ------------------------------------------------------------------


def test_there_is_a_default_template_for_every_rule_kind() -> None:
    assert set(DEFAULT_TEMPLATES) == {"cadence", "no_reply", "after_meeting", "dormant", "date"}


@pytest.mark.parametrize("kind", sorted(DEFAULT_TEMPLATES))
def test_default_templates_render_with_full_and_sparse_context(kind: str) -> None:
    full_subject, full = split_subject(render(DEFAULT_TEMPLATES[kind], CONTEXT))
    assert full.startswith("Hi Lena,\n\n")
    assert full.endswith("Best regards,\nAlex Morgan\n")
    assert "{{" not in full and "None" not in full
    sparse_subject, sparse = split_subject(render(DEFAULT_TEMPLATES[kind], SPARSE))
    assert sparse.startswith("Hi there,\n\n")
    assert "None" not in sparse and "None" not in (sparse_subject or "")
    if kind == "no_reply":
        assert full_subject is None  # the reply keeps the thread's "Re:" subject
        assert 'about "Offer for the spring workshop"' in full
    elif kind != "after_meeting":
        assert full_subject is not None and full_subject.endswith(("Lena", "Lena!"))


def test_default_date_template_fits_each_kind_of_date() -> None:
    def subject_and_body(date_context: dict[str, object]) -> tuple[str | None, str]:
        return split_subject(render(DEFAULT_TEMPLATES["date"], {**CONTEXT, "date": date_context}))

    subject, body = subject_and_body({"kind": "birthday", "label": None, "years": 41})
    assert subject == "Happy birthday, Lena!" and "Happy birthday!" in body and "41" not in body
    subject, body = subject_and_body({"kind": "anniversary", "label": None, "years": 10})
    assert subject == "Happy anniversary, Lena!" and "Happy anniversary, 10 years!" in body
    subject, body = subject_and_body({"kind": "custom", "label": "Company founded", "years": 5})
    assert subject == "Congratulations, Lena!" and "Company founded: 5 years!" in body


def test_default_after_meeting_names_the_meeting() -> None:
    subject, _ = split_subject(render(DEFAULT_TEMPLATES["after_meeting"], CONTEXT))
    assert subject == "Thank you: Kickoff"
    subject, _ = split_subject(render(DEFAULT_TEMPLATES["after_meeting"], SPARSE))
    assert subject == "Thank you"
