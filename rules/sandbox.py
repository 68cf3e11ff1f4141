"""A Jinja2 environment that an untrusted template cannot escape or exhaust.

Jinja's `ImmutableSandboxedEnvironment` stops a template from reaching Python internals
(``''.__class__.__mro__``, ``cycler.__init__.__globals__``) and from mutating lists and
dicts, but it leaves the machine's memory and CPU open: ``'x' * 10**9``,
``range(10**9)``, ``'x'|center(10**9)`` or a loop doubling a string each round all stay
inside the sandbox. This module closes those, so that a template read from the user's
config either renders quickly or fails with one clear line:

* **Every value a template makes is measured before it is made.** Binary operators are
  intercepted (`call_binop`), string concatenation (``~``), comparisons and ``for``
  iterables are rewritten in the parsed template into calls of guard filters, and every
  filter, test and method call goes through a wrapper. Operations whose result can be much
  larger than their inputs (repetition, padding, ``replace``, ``join``, ``indent``,
  ``format``, ``%``, ``strftime``, powers of big numbers) estimate the size first and fail
  over `TRANSIENT_LIMIT`; every produced value must then weigh at most `VALUE_LIMIT`.
* **Work is counted.** Each attribute lookup, call, operator, filter and loop item costs a
  step from a per-render budget of `STEP_LIMIT`, and every character produced (output and
  captured blocks included) or scanned by a filter, method or comparison counts against
  `CHAR_LIMIT`; the render fails when either is spent, so nested loops or recursive macros
  end in well under a second. The count is deterministic: no clock is read.
* **Less surface.** ``range`` is capped at `RANGE_LIMIT` items; ``lipsum`` and ``namespace``
  (the only way to carry state out of a loop) are gone, as are the ``urlize`` and
  ``xmlattr`` filters; strings, bytes and numbers expose only methods known to be tame.

All limit failures raise `LimitExceeded` (a `jinja2.exceptions.SecurityError`). The render
entry point is `rules.templates.render`; this module only builds the environment.
"""

from __future__ import annotations

import functools
import inspect
import operator
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from string import Formatter
from typing import Any, cast

from jinja2 import StrictUndefined, nodes, pass_context, pass_eval_context
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from jinja2.visitor import NodeTransformer

SOURCE_LIMIT = 100_000  # characters of template text
OUTPUT_LIMIT = 100_000  # characters of rendered output
VALUE_LIMIT = 100_000  # weight (about: characters) of any value a template produces
TRANSIENT_LIMIT = 1_000_000  # estimated size of an intermediate result
RANGE_LIMIT = 10_000  # items in one range()
NUMBER_ARG_LIMIT = 100_000  # widths and counts passed to filters and string methods
INT_BITS_LIMIT = 10_000  # size of integers made by * and **
STEP_LIMIT = 100_000  # operations per render (each costs about a microsecond or two)
CHAR_LIMIT = 2_000_000  # characters produced or scanned per render

# methods whose result is never much larger than the string (or is checked in `call`)
_STR_METHODS = frozenset(
    {
        "capitalize", "casefold", "center", "count", "endswith", "find", "format",
        "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit",
        "isidentifier", "islower", "isnumeric", "isprintable", "isspace", "istitle",
        "isupper", "join", "ljust", "lower", "lstrip", "partition", "removeprefix",
        "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit",
        "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper",
        "zfill",
    }
)  # fmt: skip
_NUMBER_ATTRS = frozenset(
    {
        "real", "imag", "numerator", "denominator", "bit_length", "conjugate", "is_integer",
        "as_integer_ratio",
    }
)  # fmt: skip
_REMOVED_FILTERS = frozenset({"urlize", "xmlattr"})
_REMOVED_GLOBALS = frozenset({"lipsum", "namespace"})


class LimitExceeded(SecurityError):
    """A template went over one of the resource limits of the sandbox."""


class _Budget:
    __slots__ = ("chars", "steps")

    def __init__(self, steps: int, chars: int) -> None:
        self.steps = steps
        self.chars = chars


_BUDGET: ContextVar[_Budget | None] = ContextVar("syncd_template_budget", default=None)


def start_budget() -> object:
    """Give the renders in this context a fresh budget; returns a token for `end_budget`."""
    return _BUDGET.set(_Budget(STEP_LIMIT, CHAR_LIMIT))


def end_budget(token: object) -> None:
    _BUDGET.reset(token)  # type: ignore[arg-type]


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


def _shallow(value: object) -> int:
    if isinstance(value, str | bytes | bytearray | list | tuple | set | frozenset | dict):
        return len(value)
    return 1


def _check_value(value: object) -> object:
    """Charge for a produced value and refuse it when it is too big."""
    size = weight(value, VALUE_LIMIT)
    charge(1, size)
    if size > VALUE_LIMIT:
        raise LimitExceeded(f"template built a value over {VALUE_LIMIT} characters")
    return value


def _check_estimate(size: int, what: str) -> None:
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


def _estimate_format(fmt: str, args: Iterable[object]) -> int:
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


def _binop(name: str, left: Any, right: Any) -> Any:
    charge(1)
    if name == "*":
        _check_repeat(left, right)
        _check_repeat(right, left)
        if _both_ints(left, right):
            _check_int_bits(left.bit_length() + right.bit_length())
    elif name == "**" and _both_ints(left, right) and right > 0 and abs(left) > 1:
        _check_int_bits(left.bit_length() * right)
    elif name == "+" and not _both_ints(left, right):
        _check_estimate(weight(left) + weight(right), "+")
    elif name == "%" and isinstance(left, str):
        _check_estimate(_estimate_percent(left, right), "%")
    return _check_value(_BINOPS[name](left, right))


def _both_ints(left: object, right: object) -> bool:
    return isinstance(left, int) and isinstance(right, int)


def _check_repeat(seq: object, times: object) -> None:
    if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int):
        _check_estimate(max(weight(seq), 1) * max(times, 0), "*")


def _check_int_bits(bits: int) -> None:
    if bits > INT_BITS_LIMIT:
        raise LimitExceeded(f"template tried to build a number of about {bits} bits")


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
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


def _guard_concat(parts: list[Any]) -> str:
    charge(1)
    _check_estimate(sum(weight(p) for p in parts), "~")
    return str(_check_value("".join(str(p) for p in parts)))


def _guard_compare(first: Any, *pairs: Any) -> bool:
    left = first
    for op, right in zip(pairs[::2], pairs[1::2], strict=True):
        charge(1, _shallow(left) + _shallow(right))
        if not _COMPARE[op](left, right):
            return False
        left = right
    return True


@pass_context
def _guard_iter(context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    return _counted(iterable)


def _counted(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        charge(1)
        yield item


@pass_eval_context
def _guard_output(eval_ctx: EvalContext, value: Any) -> str:
    # pass_eval_context keeps Jinja from folding output at compile time, so that every
    # character (template text included) is paid for when it is produced.
    size = weight(value, VALUE_LIMIT)
    if size > VALUE_LIMIT:
        raise LimitExceeded(f"template output is longer than {OUTPUT_LIMIT} characters")
    text = str(value)
    charge(1, len(text))
    return text


def _safe_range(*args: int) -> range:
    charge(1)
    rng = range(*args)
    if len(rng) > RANGE_LIMIT:
        raise LimitExceeded(f"template asked for a range of {len(rng)} items (limit {RANGE_LIMIT})")
    return rng


# --- filters and tests -------------------------------------------------------------------


def _estimate_filter(name: str, a: Mapping[str, Any]) -> int:
    """Upper bound of the result size of the filters that can grow their input."""
    if name == "center":
        return max(weight(a["value"]), _int_or(a.get("width"), 80))
    if name == "indent":
        text = str(a["s"])
        width = a.get("width", 4)
        per_line = len(width) if isinstance(width, str) else _int_or(width, 4)
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


def _int_or(value: object, default: int) -> int:
    return value if isinstance(value, int) else default


_ESTIMATED = frozenset({"center", "indent", "wordwrap", "replace", "format", "join", "truncate"})


def _guard_filter(name: str, func: Callable[..., Any], *, is_test: bool) -> Callable[..., Any]:
    signature = inspect.signature(func) if name in _ESTIMATED or name == "sum" else None
    passes_arg = getattr(func, "jinja_pass_arg", None) is not None
    what = f"{'test' if is_test else 'filter'} {name}"

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        value_at = 1 if passes_arg else 0
        charge(1, sum(_shallow(a) for a in args[value_at : value_at + 1]))
        _check_number_args(what, args[value_at + 1 :])
        _check_number_args(what, kwargs.values())
        if name == "join" and len(args) > value_at and not isinstance(args[value_at], list):
            args = (*args[:value_at], list(_counted(args[value_at])), *args[value_at + 1 :])
        if signature is not None:
            bound = signature.bind(*args, **kwargs)
            if name == "sum":
                start = bound.arguments.get("start", 0)
                if not isinstance(start, int | float):
                    raise LimitExceeded("template can only sum numbers")
            else:
                _check_estimate(_estimate_filter(name, bound.arguments), f"|{name}")
            if name == "wordwrap":  # textwrap costs about a microsecond per character
                charge(_shallow(bound.arguments.get("s")))
        result = func(*args, **kwargs)
        if isinstance(result, Iterator):
            return _counted(result)
        return _check_value(result)

    return guarded


# --- the environment ---------------------------------------------------------------------


class _TemplateUndefined(StrictUndefined):
    """StrictUndefined with messages that name the value the template asked for."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        hint = self._undefined_hint
        obj = self._undefined_obj
        name = self._undefined_name
        if hint:
            return hint
        if obj is missing:
            return f"template uses an undefined value {name!r}"
        if isinstance(obj, ContextDict):
            return f"template uses an undefined value '{obj._syncd_path}.{name}'"
        if obj is None:
            return f"template reads {name!r} of a value that is None"
        return f"template uses an undefined value {name!r} of a {type(obj).__name__}"


class ContextDict(dict[str, Any]):
    """A mapping of the render context that knows its dotted path, for error messages."""

    # underscored, so the sandbox never shows it to a template as if it were a key
    __slots__ = ("_syncd_path",)

    def __init__(self, path: str, items: Mapping[str, Any]) -> None:
        super().__init__(items)
        self._syncd_path = path


def wrap_context(value: Any, path: str) -> Any:
    """Copy the context, turning every mapping into a `ContextDict` named by its path."""
    if isinstance(value, Mapping):
        items = {
            str(k): wrap_context(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()
        }
        return ContextDict(path, items)
    if isinstance(value, list):
        return [wrap_context(v, path) for v in value]
    if isinstance(value, tuple):
        return tuple(wrap_context(v, path) for v in value)
    return value


class _Harden(NodeTransformer):
    """Rewrites the parsed template so that unhooked operations go through guard filters."""

    def __init__(self, environment: HardenedEnvironment) -> None:
        self.environment = environment

    def _filter(
        self, node: nodes.Expr, name: str, args: list[nodes.Expr], lineno: int
    ) -> nodes.Filter:
        out = nodes.Filter(node, name, args, [], None, None, lineno=lineno)
        out.set_environment(self.environment)
        return out

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._filter(cast(nodes.Expr, node.iter), "syncd_iter", [], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        items = nodes.List(list(node.nodes), lineno=node.lineno)
        items.set_environment(self.environment)
        return self._filter(items, "syncd_concat", [], node.lineno)

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        self.generic_visit(node)
        args: list[nodes.Expr] = []
        for operand in node.ops:
            const = nodes.Const(operand.op, lineno=node.lineno)
            const.set_environment(self.environment)
            args += [const, operand.expr]
        return self._filter(node.expr, "syncd_compare", args, node.lineno)

    def _refuse(self, node: nodes.Node) -> nodes.Node:
        raise TemplateSyntaxError(
            "templates cannot include, import or extend other templates", node.lineno
        )

    visit_Extends = visit_Include = visit_Import = visit_FromImport = _refuse

    def visit_TemplateData(self, node: nodes.TemplateData) -> nodes.Node:
        # a Const instead of TemplateData goes through finalize, so it is paid for
        const = nodes.Const(node.data, lineno=node.lineno)
        const.set_environment(self.environment)
        return const


class HardenedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with resource limits; see the module docstring."""

    intercepted_binops = frozenset(_BINOPS)

    def __init__(self) -> None:
        super().__init__(
            undefined=_TemplateUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            finalize=_guard_output,
        )
        for name in _REMOVED_GLOBALS:
            self.globals.pop(name, None)
        self.globals["range"] = _safe_range
        for name in _REMOVED_FILTERS:
            self.filters.pop(name, None)
        filters = cast(dict[str, Callable[..., Any]], self.filters)
        tests = cast(dict[str, Callable[..., Any]], self.tests)
        for name, func in list(filters.items()):
            filters[name] = _guard_filter(name, func, is_test=False)
        for name, func in list(tests.items()):
            tests[name] = _guard_filter(name, func, is_test=True)
        self.filters["syncd_iter"] = _guard_iter
        self.filters["syncd_concat"] = _guard_concat
        self.filters["syncd_compare"] = _guard_compare

    def harden(self, source: str) -> nodes.Template:
        """Parse `source` and rewrite it for the guards."""
        tree = self.parse(source)
        result = _Harden(self).visit(tree)
        assert isinstance(result, nodes.Template)
        return result

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str):
            allowed = attr in _STR_METHODS
        elif isinstance(obj, bytes | bytearray):
            allowed = False
        elif isinstance(obj, int | float | complex):
            allowed = attr in _NUMBER_ATTRS
        else:
            allowed = True
        return allowed and super().is_safe_attribute(obj, attr, value)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        return self.undefined(
            f"template tried to reach an unsafe attribute {attribute!r}",
            name=attribute,
            obj=obj,
            exc=SecurityError,
        )

    def getattr(self, obj: Any, attribute: str) -> Any:
        charge(1)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        charge(1)
        value = super().getitem(obj, argument)
        if isinstance(argument, slice):
            charge(0, _shallow(value))
        return value

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        return _binop(operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        fmt = super().wrap_str_format(value)
        if fmt is None:
            return None
        template: str = value.__self__
        is_map = value.__name__ == "format_map"

        def guarded(*args: Any, **kwargs: Any) -> str:
            values: list[Any] = list(args) + list(kwargs.values())
            if is_map and args and isinstance(args[0], Mapping):
                values = list(args[0].values())
            _check_estimate(_estimate_format(template, values), "format")
            return fmt(*args, **kwargs)

        return guarded

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        charge(1, sum(_shallow(a) for a in args))
        if isinstance(obj, LoopContext) and args:
            args = (_counted(args[0]), *args[1:])
        owner = getattr(obj, "__self__", None)
        if isinstance(obj, types.BuiltinMethodType) and isinstance(owner, str):
            args = _check_str_method(owner, obj.__name__, args, kwargs)
        elif isinstance(obj, types.BuiltinMethodType) and obj.__name__ == "strftime" and args:
            _check_estimate(16 * weight(args[0]), "strftime")
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(result, Iterator):
            return _counted(result)
        return _check_value(result)


def _check_str_method(
    text: str, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[Any, ...]:
    _check_number_args(f"str.{name}", args)
    _check_number_args(f"str.{name}", kwargs.values())
    if name in {"center", "ljust", "rjust", "zfill"} and args:
        _check_estimate(max(len(text), _int_or(args[0], 0)), name)
    elif name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        hits = text.count(old) if old else len(text) + 1
        _check_estimate(len(text) + hits * len(new), "replace")
    elif name == "join" and args:
        items = list(_counted(args[0]))
        _check_estimate(sum(weight(i) for i in items) + len(items) * len(text), "join")
        return (items, *args[1:])
    return args
