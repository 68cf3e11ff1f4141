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
  `CHAR_LIMIT` (a string method such as ``find`` or ``count`` pays for the whole string it
  scans); the render fails when either is spent, so nested loops or recursive macros
  end in well under a second. The count is deterministic: no clock is read.
* **Less surface.** ``range`` is capped at `RANGE_LIMIT` items; ``lipsum`` and ``namespace``
  (the only way to carry state out of a loop) are gone, as are the ``urlize`` and
  ``xmlattr`` filters; strings, bytes and numbers expose only methods known to be tame.

All limit failures raise `LimitExceeded` (a `jinja2.exceptions.SecurityError`). The limits,
the budget and the guard functions live in `rules.sandbox_guards`; this module builds the
environment that wires them in. The render entry point is `rules.templates.render`.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from jinja2.visitor import NodeTransformer

from rules.sandbox_guards import (
    BINOPS,
    CHAR_LIMIT,
    OUTPUT_LIMIT,
    SOURCE_LIMIT,
    STEP_LIMIT,
    LimitExceeded,
    binop,
    charge,
    check_estimate,
    check_str_method,
    check_value,
    counted,
    end_budget,
    estimate_format,
    guard_compare,
    guard_concat,
    guard_filter,
    guard_iter,
    guard_output,
    safe_range,
    shallow,
    start_budget,
    weight,
)

__all__ = [
    "CHAR_LIMIT",
    "OUTPUT_LIMIT",
    "SOURCE_LIMIT",
    "STEP_LIMIT",
    "ContextDict",
    "HardenedEnvironment",
    "LimitExceeded",
    "end_budget",
    "start_budget",
    "wrap_context",
]

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

    intercepted_binops = frozenset(BINOPS)

    def __init__(self) -> None:
        super().__init__(
            undefined=_TemplateUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            finalize=guard_output,
        )
        for name in _REMOVED_GLOBALS:
            self.globals.pop(name, None)
        self.globals["range"] = safe_range
        for name in _REMOVED_FILTERS:
            self.filters.pop(name, None)
        filters = cast(dict[str, Callable[..., Any]], self.filters)
        tests = cast(dict[str, Callable[..., Any]], self.tests)
        for name, func in list(filters.items()):
            filters[name] = guard_filter(name, func, is_test=False)
        for name, func in list(tests.items()):
            tests[name] = guard_filter(name, func, is_test=True)
        self.filters["syncd_iter"] = guard_iter
        self.filters["syncd_concat"] = guard_concat
        self.filters["syncd_compare"] = guard_compare

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
            charge(0, shallow(value))
        return value

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        return binop(operator, left, right)

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
            check_estimate(estimate_format(template, values), "format")
            return fmt(*args, **kwargs)

        return guarded

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        charge(1, sum(shallow(a) for a in args))
        if isinstance(obj, LoopContext) and args:
            args = (counted(args[0]), *args[1:])
        owner = getattr(obj, "__self__", None)
        if isinstance(obj, types.BuiltinMethodType) and isinstance(owner, str):
            # find, count, split, replace ... scan the whole string they are called on
            charge(0, len(owner))
            args = check_str_method(owner, obj.__name__, args, kwargs)
        elif isinstance(obj, types.BuiltinMethodType) and obj.__name__ == "strftime" and args:
            check_estimate(16 * weight(args[0]), "strftime")
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(result, Iterator):
            return counted(result)
        return check_value(result)
