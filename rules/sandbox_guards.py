"""The measures and guards behind `rules.sandbox`: budgets, value sizes, checked operations.

Everything here runs inside a render: `charge` spends from the budget that
`start_budget` put in a context variable, and each guard estimates what an operation
would produce before it runs and measures what it produced after. All of it raises
`LimitExceeded`. Outside a render (when Jinja folds constants at compile time) nothing is
counted, but the size checks still apply.
"""

from __future__ import annotations

import functools
import inspect
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar, Token
from string import Formatter
from typing import Any

from jinja2 import pass_context, pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context

SOURCE_LIMIT = 100_000  # characters of template text
OUTPUT_LIMIT = 100_000  # characters of rendered output
VALUE_LIMIT = 100_000  # weight (about: characters) of any value a template produces
TRANSIENT_LIMIT = 1_000_000  # estimated size of an intermediate result
RANGE_LIMIT = 10_000  # items in one range()
NUMBER_ARG_LIMIT = 100_000  # widths and counts passed to filters and string methods
INT_BITS_LIMIT = 10_000  # size of integers made by * and **
STEP_LIMIT = 100_000  # operations per render (each costs about a microsecond or two)
CHAR_LIMIT = 2_000_000  # characters produced or scanned per render


class LimitExceeded(SecurityError):
    """A template went over one of the resource limits of the sandbox."""


class _Budget:
    __slots__ = ("chars", "steps")

    def __init__(self, steps: int, chars: int) -> None:
        self.steps = steps
        self.chars = chars


_BUDGET: ContextVar[_Budget | None] = ContextVar("syncd_template_budget", default=None)


def start_budget() -> Token[_Budget | None]:
    """Give the renders in this context a fresh budget; returns a token for `end_budget`."""
    return _BUDGET.set(_Budget(STEP_LIMIT, CHAR_LIMIT))


def end_budget(token: Token[_Budget | None]) -> None:
    _BUDGET.reset(token)


def charge(steps: int, chars: int = 0) -> None:
    """Spend from the current render's budget (nothing is counted outside a render).

    A spent budget stays spent, so a caller that swallows the error gains nothing.
    """
    budget = _BUDGET.get()
    if budget is None:
        return
    budget.steps -= steps
    budget.chars -= chars
    if budget.steps < 0:
        budget.steps = -1
        raise LimitExceeded(f"template does too much work (over {STEP_LIMIT} steps)")
    if budget.chars < 0:
        budget.chars = -1
        raise LimitExceeded(f"template produces too much text (over {CHAR_LIMIT} characters)")


# --- measuring values --------------------------------------------------------------------


def weight(value: object, limit: int = TRANSIENT_LIMIT) -> int:
    """About how many characters `value` takes as text; stops counting past `limit`.

    Never calls a method of the value (an undefined value raises on ``len``).
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item)
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, int) and not isinstance(item, bool):
            total += 1 + item.bit_length() // 3
        else:
            total += 8
        if total > limit:
            break
    return total


def shallow(value: object) -> int:
    if isinstance(value, str | bytes | bytearray | list | tuple | set | frozenset | dict):
        return len(value)
    return 1


def check_value(value: object) -> object:
    """Charge for a produced value and refuse it when it is too big."""
    size = weight(value, VALUE_LIMIT)
    charge(1, size)
    if size > VALUE_LIMIT:
        raise LimitExceeded(f"template built a value over {VALUE_LIMIT} characters")
    return value


def check_estimate(size: int, what: str) -> None:
    if size > TRANSIENT_LIMIT:
        raise LimitExceeded(
            f"template tried to build a value of about {size} characters with {what}"
            f" (limit {VALUE_LIMIT})"
        )


def _check_number_args(what: str, args: Iterable[object]) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > NUMBER_ARG_LIMIT:
            raise LimitExceeded(f"template passed {arg} to {what!r} (limit {NUMBER_ARG_LIMIT})")


_DIGITS = re.compile(r"\d+")


def _largest_number(text: str) -> int:
    numbers = _DIGITS.findall(text)
    if any(len(n) > 7 for n in numbers):
        return TRANSIENT_LIMIT + 1
    return max((int(n) for n in numbers), default=0)


def _largest_int(values: Iterable[object]) -> int:
    return max(
        (abs(v) for v in values if isinstance(v, int) and not isinstance(v, bool)), default=0
    )


def _estimate_percent(fmt: str, args: object) -> int:
    """Upper bound of the length of ``fmt % args``."""
    values: list[object]
    if isinstance(args, tuple):
        values = list(args)
    elif isinstance(args, Mapping):
        values = list(args.values())
    else:
        values = [args]
    width = _largest_number(fmt)
    if "*" in fmt:
        width += _largest_int(values)
    fields = fmt.count("%")
    return len(fmt) + fields * (max((weight(v) for v in values), default=0) + width + 32)


def estimate_format(fmt: str, args: Iterable[object]) -> int:
    """Upper bound of the length of ``fmt.format(*args)``."""
    values = list(args)
    width = _largest_number(fmt)
    fields = 0
    for _, name, spec, _ in Formatter().parse(fmt):
        if name is not None:
            fields += 1
        if spec and "{" in spec:
            width += _largest_int(values)
    return len(fmt) + fields * (max((weight(v) for v in values), default=0) + width + 32)


# --- guarded operators and helpers the rewritten template calls ----------------------------


def binop(name: str, left: Any, right: Any) -> Any:
    charge(1)
    if name == "*":
        _check_repeat(left, right)
        _check_repeat(right, left)
        if _both_ints(left, right):
            _check_int_bits(left.bit_length() + right.bit_length())
    elif name == "**" and _both_ints(left, right) and right > 0 and abs(left) > 1:
        _check_int_bits(left.bit_length() * right)
    elif name == "+" and not _both_ints(left, right):
        check_estimate(weight(left) + weight(right), "+")
    elif name == "%" and isinstance(left, str):
        check_estimate(_estimate_percent(left, right), "%")
    return check_value(BINOPS[name](left, right))


def _both_ints(left: object, right: object) -> bool:
    return isinstance(left, int) and isinstance(right, int)


def _check_repeat(seq: object, times: object) -> None:
    if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int):
        check_estimate(max(weight(seq), 1) * max(times, 0), "*")


def _check_int_bits(bits: int) -> None:
    if bits > INT_BITS_LIMIT:
        raise LimitExceeded(f"template tried to build a number of about {bits} bits")


BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "**": operator.pow,
    "%": operator.mod,
}

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lteq": operator.le,
    "gt": operator.gt,
    "gteq": operator.ge,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


def guard_concat(parts: list[Any]) -> str:
    charge(1)
    check_estimate(sum(weight(p) for p in parts), "~")
    return str(check_value("".join(str(p) for p in parts)))


def guard_compare(first: Any, *pairs: Any) -> bool:
    left = first
    for op, right in zip(pairs[::2], pairs[1::2], strict=True):
        charge(1, shallow(left) + shallow(right))
        if not _COMPARE[op](left, right):
            return False
        left = right
    return True


@pass_context
def guard_iter(context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    return counted(iterable)


def counted(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        charge(1)
        yield item


@pass_eval_context
def guard_output(eval_ctx: EvalContext, value: Any) -> str:
    # pass_eval_context keeps Jinja from folding output at compile time, so that every
    # character (template text included) is paid for when it is produced.
    size = weight(value, VALUE_LIMIT)
    if size > VALUE_LIMIT:
        raise LimitExceeded(f"template output is longer than {OUTPUT_LIMIT} characters")
    text = str(value)
    charge(1, len(text))
    return text


def safe_range(*args: int) -> range:
    charge(1)
    rng = range(*args)
    if len(rng) > RANGE_LIMIT:
        raise LimitExceeded(f"template asked for a range of {len(rng)} items (limit {RANGE_LIMIT})")
    return rng


# --- filters and tests -------------------------------------------------------------------


def _estimate_filter(name: str, a: Mapping[str, Any]) -> int:
    """Upper bound of the result size of the filters that can grow their input."""
    if name == "center":
        return max(weight(a["value"]), int_or(a.get("width"), 80))
    if name == "indent":
        text = str(a["s"])
        width = a.get("width", 4)
        per_line = len(width) if isinstance(width, str) else int_or(width, 4)
        return len(text) + (text.count("\n") + 1) * per_line
    if name == "wordwrap":
        text = str(a["s"])
        wrap = a.get("wrapstring") or "\n"
        return len(text) + (len(text) // 2 + 1) * len(str(wrap))
    if name == "replace":
        text, old, new = str(a["s"]), str(a["old"]), str(a["new"])
        hits = text.count(old) if old else len(text) + 1
        count = a.get("count")
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        return len(text) + hits * len(new)
    if name == "format":
        return _estimate_percent(str(a["value"]), tuple(a.get("args", ())) or a.get("kwargs"))
    if name == "join":
        items = a["value"]
        return sum(weight(i) for i in items) + len(items) * len(str(a.get("d", "")))
    if name == "truncate":
        return weight(a["s"]) + weight(a.get("end", "..."))
    return 0


def int_or(value: object, default: int) -> int:
    return value if isinstance(value, int) else default


_ESTIMATED = frozenset({"center", "indent", "wordwrap", "replace", "format", "join", "truncate"})


def guard_filter(name: str, func: Callable[..., Any], *, is_test: bool) -> Callable[..., Any]:
    signature = inspect.signature(func) if name in _ESTIMATED or name == "sum" else None
    passes_arg = getattr(func, "jinja_pass_arg", None) is not None
    what = f"{'test' if is_test else 'filter'} {name}"

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        value_at = 1 if passes_arg else 0
        charge(1, sum(shallow(a) for a in args[value_at : value_at + 1]))
        _check_number_args(what, args[value_at + 1 :])
        _check_number_args(what, kwargs.values())
        if name == "join" and len(args) > value_at and not isinstance(args[value_at], list):
            args = (*args[:value_at], list(counted(args[value_at])), *args[value_at + 1 :])
        if signature is not None:
            bound = signature.bind(*args, **kwargs)
            if name == "sum":
                start = bound.arguments.get("start", 0)
                if not isinstance(start, int | float):
                    raise LimitExceeded("template can only sum numbers")
            else:
                check_estimate(_estimate_filter(name, bound.arguments), f"|{name}")
            if name == "wordwrap":  # textwrap costs about a microsecond per character
                charge(shallow(bound.arguments.get("s")))
        result = func(*args, **kwargs)
        if isinstance(result, Iterator):
            return counted(result)
        return check_value(result)

    return guarded


def check_str_method(
    text: str, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[Any, ...]:
    if name in {"format", "format_map"}:  # only ever reachable through wrap_str_format
        raise SecurityError(f"template tried to reach an unsafe attribute {name!r}")
    _check_number_args(f"str.{name}", args)
    _check_number_args(f"str.{name}", kwargs.values())
    if name in {"center", "ljust", "rjust", "zfill"} and args:
        check_estimate(max(len(text), int_or(args[0], 0)), name)
    elif name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        hits = text.count(old) if old else len(text) + 1
        check_estimate(len(text) + hits * len(new), "replace")
    elif name == "join" and args:
        items = list(counted(args[0]))
        check_estimate(sum(weight(i) for i in items) + len(items) * len(text), "join")
        return (items, *args[1:])
    return args
