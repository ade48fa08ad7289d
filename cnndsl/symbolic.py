"""Sizes as formulas of the input's height and width.

Every sliding window maps a length ``n`` to ``floor((n + 2p - k) / s) + 1``
(``k`` the dilated extent), or with ceil mode to
``min(ceil((n + 2p - k) / s) + 1, ceil((n + p) / s))`` (torch drops a last
window that would start in the right padding). Because
``floor((floor((x + b) / m) + c) / s) == floor((x + b + c*m) / (m*s))`` for
integers, ``ceil(y / s) == floor((y + s - 1) / s)``, and the minimum of two
floors by the same divisor is the one with the smaller offset, every
layer's height is exactly ``floor((H + b) / m)``: a :class:`Length`, with
``m`` the product of the strides before it. The formulas come from the
ops' windows over a graph elaborated at one concrete size (blocks that
branch on ``in.height`` are taken as they went at that size).

Ops that are not sliding windows say how they resize
(``Op.resize``: ``floor((a*n + c) / d)`` of an input's length, or of the
length of the tensor named by ``to=``). A crop keeps the form; an
upsampling or a transposed conv multiplies, which ``floor((H + b) / m)``
cannot say: such a length is a :class:`Chain` of steps
``x -> floor((a*x + b) / d)``, merged where the floors allow, printed as
nested floors (``16*floor((H + 4)/16) - 184`` after a U-Net's last
up-convolution). Every printed formula is exact.

The valid input sizes (``--min-input``) are cnndsl/input_sizes.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import gcd

from .ops import GLOBAL


@dataclass(frozen=True)
class Length:
    """``floor((X + b) / m)``, or a constant."""

    b: int = 0
    m: int = 1
    const: int | None = None

    def through(self, window, axis: int) -> "Length":
        """The length after ``window`` (an op's :class:`Window`) along ``axis``."""
        if self.const is not None:
            return Length(const=window.out(axis, self.const))
        step, s = window_step(window, axis)
        return Length(self.b + step * self.m, self.m * s)

    def resized(self, r) -> "Length | Chain":
        """The length after an op's :class:`~cnndsl.ops.geometry.Resize`."""
        if self.const is not None:
            return Length(const=r.at(self.const))
        if r.mul == 1 and r.div == 1:  # floor((X + b) / m) + c = floor((X + b + c*m) / m)
            return Length(self.b + r.add * self.m, self.m)
        return Chain(((1, self.b, self.m),)).then(r.mul, r.add, r.div)

    def at(self, n: int) -> int:
        return self.const if self.const is not None else (n + self.b) // self.m

    @property
    def period(self) -> int:
        return 1 if self.const is not None else self.m

    def bounds(self) -> tuple:
        """(slope, top, spread): ``slope*n + top - spread < at(n) <= slope*n + top``."""
        if self.const is not None:
            return Fraction(0), Fraction(self.const), Fraction(0)
        return Fraction(1, self.m), Fraction(self.b, self.m), Fraction(1)

    def format(self, symbol: str) -> str:
        if self.const is not None:
            return str(self.const)
        return _term(self.b, self.m, symbol)


def window_step(window, axis: int) -> tuple[int, int]:
    """(c, s): a window maps a length n to floor((n + c) / s), exactly."""
    k, s = window.k[axis], window.s[axis]  # k is the extent, dilation included
    if window.ceil:  # min(ceil((n + 2p - k) / s) + 1, ceil((n + p) / s)): the smaller offset
        p = window.p[axis]  # symmetric: the ops refuse ceil with per-side padding
        return min(2 * p - k + 2 * s - 1, p + s - 1), s
    # floor((n + before + after - k) / s) + 1; `same` is ceil(n / s): total k - 1
    return window.total_padding(axis) - k + s, s


def _reduce(a: int, b: int, d: int) -> tuple[int, int, int]:
    """floor((a x + b) / d) with a and d coprime: a x is a multiple of g = gcd(a, d),
    so it equals floor((a/g x + floor(b/g)) / (d/g))."""
    g = gcd(a, d)
    return a // g, b // g, d // g


@dataclass(frozen=True)
class Chain:
    """A length through upsampling: ``x -> floor((a*x + b) / d)`` step after step from
    the input's length (an upsampling multiplies, which ``floor((X + b) / m)`` cannot say).
    Adjacent steps merge where floors allow (``d == 1``, or ``a == 1`` in the next);
    a chain of one step ``(1, b, m)`` is a :class:`Length`."""

    steps: tuple  # ((a, b, d), ...), a >= 1, d >= 1
    const = None

    def then(self, a: int, b: int, d: int) -> "Length | Chain":
        *rest, (a1, b1, d1) = self.steps
        if d1 == 1:  # floor((a*(a1 x + b1) + b) / d)
            merged = [_reduce(a * a1, a * b1 + b, d)]
        elif a == 1:  # floor((floor((a1 x + b1) / d1) + b) / d) = floor((a1 x + b1 + b*d1) / (d1*d))
            merged = [_reduce(a1, b1 + b * d1, d1 * d)]
        else:
            merged = [(a1, b1, d1), _reduce(a, b, d)]
        steps = tuple(rest) + tuple(merged)
        if len(steps) == 1 and steps[0][0] == 1:
            return Length(steps[0][1], steps[0][2])
        return Chain(steps)

    def through(self, window, axis: int) -> "Length | Chain":
        step, s = window_step(window, axis)
        return self.then(1, step, s)

    def resized(self, r) -> "Length | Chain":
        return self.then(r.mul, r.add, r.div)

    def at(self, n: int) -> int:
        for a, b, d in self.steps:
            n = (a * n + b) // d
        return n

    @property
    def period(self) -> int:
        """The smallest P with at(n + P) = at(n) + slope*P for every n: each step's
        numerator must move by a multiple of its divisor."""
        period = 1
        while True:
            move = period
            for a, _, d in self.steps:
                if a * move % d:
                    period *= d // gcd(d, a * move)
                    break
                move = a * move // d
            else:
                return period

    def bounds(self) -> tuple:
        slope, top, spread = Fraction(1), Fraction(0), Fraction(0)
        for a, b, d in self.steps:
            slope, top, spread = slope * a / d, (top * a + b) / d, spread * a / d + 1
        return slope, top, spread

    def format(self, symbol: str) -> str:
        core, offset = symbol, 0  # the value is core + offset
        for a, b, d in self.steps:
            scaled = core if a == 1 else f"{a}*{_group(core)}"
            core, offset = _term_parts(a * offset + b, d, _group(scaled) if d > 1 else scaled)
        return _plus(core, offset)


def _group(text: str) -> str:
    """``text`` in parentheses if it has a space outside them (a sum)."""
    depth = 0
    for c in text:
        depth += (c == "(") - (c == ")")
        if c == " " and depth == 0:
            return f"({text})"
    return text


def _term(b: int, m: int, x: str) -> str:
    return _plus(*_term_parts(b, m, x))


def _term_parts(b: int, m: int, x: str) -> tuple[str, int]:
    """floor((x + b) / m) as a floor or ceil of x and a whole offset."""
    if m == 1:
        return x, b
    q, r = divmod(b, m)
    if r == 0:
        core = f"floor({x}/{m})"
    elif r == m - 1:
        core, q = f"ceil({x}/{m})", q  # floor((x + m - 1) / m)
    else:
        core = f"floor(({x} + {r})/{m})"
    return core, q


def _plus(core: str, q: int) -> str:
    return core if q == 0 else f"{core} {'+' if q > 0 else '-'} {abs(q)}"


def formulas(graph) -> dict:
    """Node -> (height Length, width Length), or None for flat tensors."""
    out = {}
    for node, data in graph.nodes(data=True):
        if len(data["shape"]) != 3:
            out[node] = None
            continue
        if not data["inputs"]:
            out[node] = (Length(), Length())
            continue
        ins = [out[i] for i in data["inputs"]]
        op, args = data["op"], data["args"]
        resize = [op.resize(args, axis) for axis in (0, 1)]
        if op.broadcasts and None not in ins:  # a gate of size 1 takes the others' size
            out[node] = tuple(_wide([i[axis] for i in ins])[0] for axis in (0, 1))
        elif resize[0] is not None and ins[resize[0].source] is not None:
            out[node] = tuple(ins[r.source][axis].resized(r) for axis, r in enumerate(resize))
        elif resize[0] is not None or ins[0] is None or op.window(args) == GLOBAL:
            # sizes fixed by the op (global/adaptive pools)
            out[node] = (Length(const=data["shape"][1]), Length(const=data["shape"][2]))
        else:
            window = op.window(args)
            out[node] = tuple(ins[0][axis].through(window, axis) for axis in (0, 1))
    return out


def _wide(lengths: list) -> list:
    """The lengths of a broadcasting merge's paths that are not a size-1 gate."""
    return [x for x in lengths if x != Length(const=1)] or lengths


def valid_sizes(graph, table: dict | None = None):
    """The valid heights and widths of the input (cnndsl/input_sizes.py), or None for a
    flat input."""
    from .input_sizes import valid_sizes as solve  # noqa: PLC0415 (it builds on this module)
    return solve(graph, table)
