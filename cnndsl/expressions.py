"""Evaluating expressions: numbers, tuples, parameters, `in`, a few builtins.

Values are Python ints, floats, bools, strings, tuples and ranges, plus
:class:`ShapeValue` for `in`. Nothing here reaches Python attributes or
evaluates Python: attributes and functions come from fixed tables, and
numbers are kept to 64 bits so no expression can eat the machine.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

from . import nodes as n
from .diagnostics import Diagnostic, Span, suggest

LIMIT = 2**63  # integers beyond this are refused, not computed


class EvalError(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class Poisoned(Exception):
    """A value depends on an earlier error; stay quiet, it is reported already."""


POISON = object()


def fail(message: str, span: Span, label: str = "", help: str = "", code: str = "E0307"):
    raise EvalError(Diagnostic(code, message, span, label, help=help))


@dataclass(frozen=True)
class ShapeValue:
    """The shape flowing into a block, as `in` shows it."""

    shape: tuple | None

    def attr(self, name: str, span: Span):
        if self.shape is None:
            raise Poisoned()
        s = self.shape
        table = {"shape": s}
        if len(s) == 3:
            table.update(channels=s[0], height=s[1], width=s[2])
        else:
            table.update(features=s[0], channels=s[0])
        if name not in table:
            fail(f"`in` has no attribute `{name}`", span, help=suggest(name, table) or
                 f"`in` has {', '.join(f'`{k}`' for k in table)}", code="E0209")
        return table[name]


def _kind(v) -> str:
    """What a value is, with its article, for messages: "an integer"."""
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, (tuple, range)):
        return "a tuple"
    if isinstance(v, ShapeValue):
        return "a shape"
    return "a value"


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
          "//": operator.floordiv, "%": operator.mod, "**": operator.pow}
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}


def _builtin_range(args, span):
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in args) or not 1 <= len(args) <= 3:
        fail("`range` takes one to three integers", span)
    if len(args) == 3 and args[2] == 0:
        fail("`range` step must not be zero", span)
    r = range(*args)
    if length(r) >= LIMIT:
        fail("range too long (the limit is 2**63 items)", span)
    return r


def length(items) -> int:
    """len() of a tuple or range; a range past sys.maxsize items has no len()."""
    if isinstance(items, range):
        start, stop, step = items.start, items.stop, items.step
        n = (stop - start + step - (1 if step > 0 else -1)) // step
        return max(0, n)
    return len(items)


def _builtin_len(args, span):
    if len(args) != 1 or not isinstance(args[0], (tuple, range, str)):
        fail("`len` takes one tuple", span)
    return length(args[0])


def _numeric(fn, name):
    def call(args, span):
        if len(args) != 1 or not _number(args[0]):
            fail(f"`{name}` takes one number", span)
        return _check(fn(args[0]), span)
    return call


def _minmax(fn, name):
    def call(args, span):
        items = args[0] if len(args) == 1 and isinstance(args[0], (tuple, range)) else args
        if isinstance(items, range):
            # Its ends, not its items: min(range(10**18)) must not walk it.
            if length(items) == 0:
                fail(f"`{name}` of an empty range", span)
            return fn(items[0], items[-1])
        if not items or not all(_number(a) for a in items):
            fail(f"`{name}` takes numbers or one tuple of numbers", span)
        return fn(items)
    return call


BUILTINS = {
    "range": _builtin_range,
    "len": _builtin_len,
    "min": _minmax(min, "min"),
    "max": _minmax(max, "max"),
    "abs": _numeric(abs, "abs"),
    "int": _numeric(lambda x: int(x), "int"),
    "float": _numeric(float, "float"),
    "floor": _numeric(lambda x: math.floor(x), "floor"),
    "ceil": _numeric(lambda x: math.ceil(x), "ceil"),
    "round": _numeric(lambda x: round(x), "round"),
}


def plain_value(v) -> str:
    """Why ``v`` (a value from outside a spec, e.g. ``--set``) cannot be used, or ''."""
    if isinstance(v, (bool, str)):
        return ""
    if isinstance(v, int):
        return "number too large (the limit is 2**63)" if abs(v) >= LIMIT else ""
    if isinstance(v, float):
        return "" if math.isfinite(v) else f"number is not finite ({v})"
    if isinstance(v, tuple):
        if len(v) > 100_000:
            return "tuple too long"
        return next((p for p in map(plain_value, v) if p), "")
    return f"a {type(v).__name__} is not a spec value"


def _check(v, span):
    if isinstance(v, int) and abs(v) >= LIMIT:
        fail("number too large (the limit is 2**63)", span)
    if isinstance(v, float) and not math.isfinite(v):
        fail(f"number is not finite ({v})", span)
    return v


def evaluate(e: n.Expr, env: dict, shape_in: ShapeValue | None):
    """Evaluate ``e`` with variables ``env`` and `in` = ``shape_in`` (None: no `in` here)."""
    if isinstance(e, n.Const):
        return e.value
    if isinstance(e, n.Var):
        if e.name not in env:
            fail(f"unknown name `{e.name}`", e.span, code="E0209",
                 help=suggest(e.name, [k for k in env if not k.startswith("_")]))
        v = env[e.name]
        if v is POISON:
            raise Poisoned()
        return v
    if isinstance(e, n.InRef):
        if shape_in is None:
            fail("`in` is the tensor flowing into a block or the network body; there is none "
                 "here", e.span, code="E0209", help="use a network parameter instead")
        return shape_in
    if isinstance(e, n.Seq):
        return tuple(evaluate(i, env, shape_in) for i in e.items)
    if isinstance(e, n.Attr):
        target = evaluate(e.target, env, shape_in)
        if not isinstance(target, ShapeValue):
            fail(f"{_kind(target)} has no attribute `{e.name}`", e.span, code="E0209")
        return target.attr(e.name, e.span)
    if isinstance(e, n.Index):
        target = evaluate(e.target, env, shape_in)
        index = evaluate(e.index, env, shape_in)
        if isinstance(target, ShapeValue):
            target = target.attr("shape", e.span)
        if not isinstance(target, (tuple, range)):
            fail(f"cannot index {_kind(target)}", e.target.span)
        if isinstance(index, bool) or not isinstance(index, int):
            fail(f"an index must be an integer, got {_kind(index)}", e.index.span)
        size = length(target)
        if not -size <= index < size:
            fail(f"index {index} is out of range for a tuple of {size}", e.index.span)
        return target[index]
    if isinstance(e, n.Unary):
        v = evaluate(e.operand, env, shape_in)
        if e.op == "not":
            if not isinstance(v, bool):
                fail(f"`not` needs a boolean, got {_kind(v)}", e.operand.span)
            return not v
        if not _number(v):
            fail(f"`{e.op}` needs a number, got {_kind(v)}", e.operand.span)
        return -v if e.op == "-" else v
    if isinstance(e, n.Binary):
        return _binary(e, env, shape_in)
    if isinstance(e, n.FuncCall):
        fn = BUILTINS.get(e.name)
        if fn is None:
            fail(f"unknown function `{e.name}`", e.span, code="E0209",
                 help=suggest(e.name, BUILTINS) or "functions: " + ", ".join(sorted(BUILTINS)))
        return fn([evaluate(a, env, shape_in) for a in e.args], e.span)
    raise TypeError(f"unknown expression {e!r}")  # a bug in cnndsl, not in the spec


def _binary(e: n.Binary, env, shape_in):
    if e.op in ("and", "or"):
        left = evaluate(e.left, env, shape_in)
        if not isinstance(left, bool):
            fail(f"`{e.op}` needs booleans, got {_kind(left)}", e.left.span)
        if (e.op == "and") != left:  # short-circuit
            return left
        right = evaluate(e.right, env, shape_in)
        if not isinstance(right, bool):
            fail(f"`{e.op}` needs booleans, got {_kind(right)}", e.right.span)
        return right
    left = evaluate(e.left, env, shape_in)
    right = evaluate(e.right, env, shape_in)
    if e.op in _COMPARE:
        if e.op in ("==", "!="):
            return _COMPARE[e.op](left, right)
        if _number(left) and _number(right) or type(left) is type(right) is tuple:
            try:
                return _COMPARE[e.op](left, right)
            except TypeError:
                pass
        fail(f"cannot compare {_kind(left)} with {_kind(right)}", e.span)
    if e.op == "+" and isinstance(left, tuple) and isinstance(right, tuple):
        if len(left) + len(right) > 100_000:
            fail("tuple too long", e.span)
        return left + right
    if not (_number(left) and _number(right)):
        fail(f"`{e.op}` needs numbers, got {_kind(left)} and {_kind(right)}", e.span)
    if e.op in ("/", "//", "%") and right == 0:
        fail("division by zero", e.right.span)
    if e.op == "**":
        if isinstance(right, int) and abs(right) > 64 and abs(left) > 1:
            fail("exponent too large", e.right.span)
        if left == 0 and right < 0:
            fail("division by zero", e.span)
    try:
        result = _ARITH[e.op](left, right)
    except OverflowError:
        fail("number too large", e.span)
    if isinstance(result, complex):
        fail("result is not a real number", e.span)
    return _check(result, e.span)
