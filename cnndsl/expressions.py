"""Evaluating expressions: numbers, tuples, parameters, `in`, a few builtins,
conditional expressions (only the chosen branch is evaluated).

Values are Python ints, floats, bools, strings, tuples and ranges, plus
:class:`ShapeValue` for `in`. Nothing here reaches Python attributes or
evaluates Python: attributes and functions come from fixed tables, and
numbers are kept to 64 bits so no expression can eat the machine.

Sizes are bounded as well as numbers: ``t = (t, t)`` sixty times is only
sixty Python objects, but comparing, printing or converting it would walk
2**60 items. A value may hold :data:`MAX_ITEMS` items (counted at every
level, shared parts as often as they occur) nested :data:`MAX_NESTING`
deep; :func:`measure` finds out without walking a shared part twice, and a
:class:`Meter` counts the items built and compared, which the elaborator
adds to its step count. Values reach messages only through
:func:`show_value`, which stops at a length.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

from . import nodes as n
from .diagnostics import Diagnostic, Span, suggest, visible

LIMIT = 2**63  # integers beyond this are refused, not computed
# A spec's values are channel counts, kernel sizes and the tables of a few
# stages: tens of items. 100,000 (the old limit on a tuple's length) leaves
# room for generated tables while keeping any comparison, message or JSON
# of one value to milliseconds; 100 levels is the nesting limit of
# statements and expressions too, and keeps Python's own (recursive)
# comparison of tuples far from its recursion limit.
MAX_ITEMS = 100_000
MAX_NESTING = 100


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
    """The shape of the tensor flowing into a statement, as `in` shows it."""

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


kind_of = _kind  # for the elaborator's messages


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


# Names every spec may use without declaring them. A network parameter,
# block parameter or variable of the same name hides one (`same = 2` is a
# variable like any other), so adding one here never breaks a spec.
PREDEFINED = {
    "same": "same",  # TensorFlow's padding: `conv(c, k=3, p=same)` is `p="same"`
}


def plain_value(v) -> str:
    """Why ``v`` (a value from outside a spec, e.g. ``--set``) cannot be used, or ''."""
    # Its size first: walking a huge or deeply nested value item by item (or
    # recursively) is what must not happen. Within the limits, a walk is cheap.
    return too_large(v) or _plain(v)


def _plain(v) -> str:
    if isinstance(v, (bool, str)):
        return ""
    if isinstance(v, int):
        return "number too large (the limit is 2**63)" if abs(v) >= LIMIT else ""
    if isinstance(v, float):
        return "" if math.isfinite(v) else f"number is not finite ({v})"
    if isinstance(v, tuple):
        return next((p for p in map(_plain, v) if p), "")
    return f"a {type(v).__name__} is not a spec value"


def _check(v, span):
    if isinstance(v, int) and abs(v) >= LIMIT:
        fail("number too large (the limit is 2**63)", span)
    if isinstance(v, float) and not math.isfinite(v):
        fail(f"number is not finite ({v})", span)
    return v


class Meter:
    """The items evaluation built or compared, so that a loop over a costly
    expression counts that work against the elaborator's step limit."""

    def __init__(self):
        self.work = 0


def measure(v) -> tuple[int, int]:
    """(items, nesting) of a value: every item at every level, shared parts counted
    as often as they occur; 0 and 0 for a scalar.

    A shared part is walked once, and the walk stops as soon as either limit is
    passed (that count is then just past its limit, the other one a lower
    bound), so this costs at most about :data:`MAX_ITEMS` steps whatever ``v``
    is, even a value from the Python API.
    """
    if not isinstance(v, tuple):
        return 0, 0
    done: dict[int, tuple[int, int]] = {}  # id -> (items, nesting); v keeps every id alive
    walked = 0
    stack = [(v, 1, False)]
    while stack:
        t, level, ready = stack.pop()
        if id(t) in done:
            continue
        if not ready:
            walked += len(t)  # distinct items only, so never more than the value's items
            if walked > MAX_ITEMS:
                return MAX_ITEMS + 1, level
            if level > MAX_NESTING:
                return walked, MAX_NESTING + 1
            stack.append((t, level, True))
            stack.extend((x, level + 1, False) for x in t
                         if isinstance(x, tuple) and id(x) not in done)
            continue
        items, nesting = len(t), 1
        for x in t:
            if isinstance(x, tuple):
                inner, deep = done[id(x)]
                items, nesting = items + inner, max(nesting, deep + 1)
        if items > MAX_ITEMS or nesting > MAX_NESTING:
            return items, nesting
        done[id(t)] = items, nesting
    return done[id(v)]


_TOO_MANY = f"value too large (the limit is {MAX_ITEMS:,} items, nested ones counted)"
_TOO_DEEP = f"value nested too deep (the limit is {MAX_NESTING} levels of tuples)"


def too_large(v) -> str:
    """Why ``v`` is too large a value, or ''."""
    return _problem(*measure(v))


def _problem(items: int, nesting: int) -> str:
    return _TOO_MANY if items > MAX_ITEMS else _TOO_DEEP if nesting > MAX_NESTING else ""


def _admit(v, span, meter: Meter | None):
    """``v`` if it is within the size limits (counting its items as work), else an error."""
    if isinstance(v, tuple):
        items, nesting = measure(v)
        if _problem(items, nesting):
            fail(_problem(items, nesting), span,
                 help="build smaller tables, or loop over a range instead")
        if meter is not None:
            meter.work += items
    return v


def show_value(v, limit: int = 60) -> str:
    """A value as a spec would write it, cut to about ``limit`` characters with `...`.

    The only way values reach messages: it never walks more than ``limit``
    items, whatever the value (``t = (t, t)`` sixty times included).
    Control and bidi characters in strings are escaped (:func:`visible`).
    """
    out: list[str] = []
    size = 0
    stack: list = [v]
    while stack and size <= limit:
        x = stack.pop()
        if isinstance(x, _Text):
            text = x.text
        elif isinstance(x, tuple):
            # Items past the limit could not be shown anyway: never push more.
            shown = x[:limit + 1]
            parts: list = [_Text("(")]
            for i, item in enumerate(shown):
                parts += [_Text(", ")] if i else []
                parts.append(item if i < limit else _Text("..."))
            parts.append(_Text(",)" if len(x) == 1 else ")"))
            stack.extend(reversed(parts))
            continue
        elif isinstance(x, bool):
            text = "true" if x else "false"
        elif isinstance(x, str):
            text = '"' + visible(x[:limit + 1]) + '"'
        elif isinstance(x, (int, float, range)):
            text = repr(x)
        elif isinstance(x, ShapeValue):
            text = "in"
        elif hasattr(x, "node") and hasattr(x, "name"):  # a tensor passed by name (TensorName)
            text = x.name
        else:
            text = type(x).__name__
        out.append(text)
        size += len(text)
    text = "".join(out)
    return text if size <= limit and not stack else text[:max(0, limit - 3)] + "..."


class _Text:
    """Punctuation on show_value's stack, told apart from string values."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


_JSON_SCALARS = frozenset({bool, int, float, str, type(None)})


def json_value(v, limit: int = 1_000):
    """``v`` as JSON data (tuples and ranges as lists), or, past ``limit`` items, its
    :func:`show_value` text: a document stays small whatever the spec computes."""
    if type(v) in _JSON_SCALARS:  # most values, and what tuples hold (the fast paths)
        return v
    if isinstance(v, range):
        return list(v) if length(v) <= limit else show_value(v)
    if isinstance(v, tuple):
        if len(v) <= limit and all(type(x) in _JSON_SCALARS for x in v):
            return list(v)  # flat: nothing to measure
        items, nesting = measure(v)
        if items > limit or nesting > MAX_NESTING:
            return show_value(v)
        return [json_value(x, limit) for x in v]
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    return show_value(v)


def evaluate(e: n.Expr, env: dict, shape_in: ShapeValue | None, meter: Meter | None = None):
    """Evaluate ``e`` with variables ``env`` and `in` = ``shape_in`` (None: no `in` here).

    ``meter``, if given, counts the items of the values built and compared."""
    if isinstance(e, n.Const):
        return e.value
    if isinstance(e, n.Var):
        if e.name not in env:
            if e.name in PREDEFINED:
                return PREDEFINED[e.name]
            fail(f"unknown name `{e.name}`", e.span, code="E0209",
                 help=suggest(e.name, [k for k in env if not k.startswith("_")] + [*PREDEFINED]))
        v = env[e.name]
        if v is POISON:
            raise Poisoned()
        return v
    if isinstance(e, n.InRef):
        if shape_in is None:
            fail("`in` is the tensor flowing into a statement; the network's parameters and "
                 "input have none", e.span, code="E0209", help="use a network parameter instead")
        return shape_in
    if isinstance(e, n.Seq):
        return _admit(tuple(evaluate(i, env, shape_in, meter) for i in e.items), e.span, meter)
    if isinstance(e, n.Attr):
        target = evaluate(e.target, env, shape_in, meter)
        if not isinstance(target, ShapeValue):
            fail(f"{_kind(target)} has no attribute `{e.name}`", e.span, code="E0209")
        return target.attr(e.name, e.span)
    if isinstance(e, n.Index):
        target = evaluate(e.target, env, shape_in, meter)
        index = evaluate(e.index, env, shape_in, meter)
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
        v = evaluate(e.operand, env, shape_in, meter)
        if e.op == "not":
            if not isinstance(v, bool):
                fail(f"`not` needs a boolean, got {_kind(v)}", e.operand.span)
            return not v
        if not _number(v):
            fail(f"`{e.op}` needs a number, got {_kind(v)}", e.operand.span)
        return -v if e.op == "-" else v
    if isinstance(e, n.Binary):
        return _binary(e, env, shape_in, meter)
    if isinstance(e, n.Conditional):
        condition = evaluate(e.condition, env, shape_in, meter)
        if not isinstance(condition, bool):  # as `if` wants it: no truthiness of numbers
            fail("a conditional expression needs a boolean condition", e.condition.span,
                 f"this is {_kind(condition)}", code="E0206",
                 help=_compare_it(e.condition) if _number(condition) else "")
        return evaluate(e.then if condition else e.orelse, env, shape_in, meter)
    if isinstance(e, n.FuncCall):
        fn = BUILTINS.get(e.name)
        if fn is None:
            fail(f"unknown function `{e.name}`", e.span, code="E0209",
                 help=suggest(e.name, BUILTINS) or "functions: " + ", ".join(sorted(BUILTINS)))
        return fn([evaluate(a, env, shape_in, meter) for a in e.args], e.span)
    raise TypeError(f"unknown expression {e!r}")  # a bug in cnndsl, not in the spec


def _compare_it(condition: n.Expr) -> str:
    if isinstance(condition, n.Var):
        return f"compare it: `{condition.name} != 0`"
    return "compare it, as in `n != 0`"


def _binary(e: n.Binary, env, shape_in, meter):
    if e.op in ("and", "or"):
        left = evaluate(e.left, env, shape_in, meter)
        if not isinstance(left, bool):
            fail(f"`{e.op}` needs booleans, got {_kind(left)}", e.left.span)
        if (e.op == "and") != left:  # short-circuit
            return left
        right = evaluate(e.right, env, shape_in, meter)
        if not isinstance(right, bool):
            fail(f"`{e.op}` needs booleans, got {_kind(right)}", e.right.span)
        return right
    left = evaluate(e.left, env, shape_in, meter)
    right = evaluate(e.right, env, shape_in, meter)
    if e.op in _COMPARE:
        if meter is not None:  # comparing tuples walks them; both are within the limits
            meter.work += measure(left)[0] + measure(right)[0]
        if e.op in ("==", "!="):
            return _COMPARE[e.op](left, right)
        if _number(left) and _number(right) or type(left) is type(right) is tuple:
            try:
                return _COMPARE[e.op](left, right)
            except TypeError:
                pass
        fail(f"cannot compare {_kind(left)} with {_kind(right)}", e.span)
    if e.op == "+" and isinstance(left, tuple) and isinstance(right, tuple):
        if len(left) + len(right) > MAX_ITEMS:  # before the copy is made
            fail(_TOO_MANY, e.span)
        return _admit(left + right, e.span, meter)
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
