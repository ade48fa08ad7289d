"""Sizes as formulas of the input's height and width, and the valid input sizes.

Every sliding window maps a length ``n`` to ``floor((n + 2p - k) / s) + 1``
(``k`` the dilated extent), or with ceil mode to
``min(ceil((n + 2p - k) / s) + 1, ceil((n + p) / s))`` (torch drops a last
window that would start in the right padding). Because
``floor((floor((x + b) / m) + c) / s) == floor((x + b + c*m) / (m*s))`` for
integers, and ``ceil(y / s) == floor((y + s - 1) / s)``, every layer's
height is exactly ``min_i floor((H + b_i) / m_i)``: a :class:`Length`.
The formulas come from the ops' windows over a graph elaborated at one
concrete size (blocks that branch on ``in.height`` are taken as they went
at that size).

The smallest valid input is where every layer is non-empty and every
merge's paths have equal sizes; which sizes line up repeats with period
``lcm(m_i)``, which gives the divisibility rule (a U-Net of four 2x pools
needs ``H`` divisible by 16).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import lcm

from .ops import GLOBAL
from .ops.base import window_out

SCAN_LIMIT = 1 << 16  # largest size searched for a first valid input


@dataclass(frozen=True)
class Length:
    """``min(floor((X + b) / m) for (b, m) in terms)``, or a constant."""

    terms: tuple[tuple[int, int], ...] = ((0, 1),)
    const: int | None = None

    def through(self, k: int, s: int, p: int, ceil: bool) -> "Length":
        """The length after a window of extent k, stride s, padding p."""
        if self.const is not None:
            return Length(const=window_out(self.const, k, s, p, 1, ceil))  # k is the extent
        terms = set()
        for b, m in self.terms:
            if ceil:  # ceil((n + 2p - k) / s) + 1  and  ceil((n + p) / s)
                terms.add((b + (2 * p - k + 2 * s - 1) * m, m * s))
                terms.add((b + (p + s - 1) * m, m * s))
            else:  # floor((n + 2p - k) / s) + 1
                terms.add((b + (2 * p - k + s) * m, m * s))
        return Length(_prune(terms))

    def at(self, n: int) -> int:
        if self.const is not None:
            return self.const
        return min((n + b) // m for b, m in self.terms)

    def format(self, symbol: str) -> str:
        if self.const is not None:
            return str(self.const)
        parts = [_term(b, m, symbol) for b, m in self.terms]
        return parts[0] if len(parts) == 1 else f"min({', '.join(parts)})"


def _prune(terms: set) -> tuple:
    """Drop terms never smaller than another with the same divisor."""
    best: dict[int, int] = {}
    for b, m in terms:
        best[m] = min(b, best.get(m, b))
    return tuple(sorted(((b, m) for m, b in best.items()), key=lambda t: t[1]))


def _term(b: int, m: int, x: str) -> str:
    if m == 1:
        return x if b == 0 else f"{x} {'+' if b > 0 else '-'} {abs(b)}"
    q, r = divmod(b, m)
    if r == 0:
        core = f"floor({x}/{m})"
    elif r == m - 1:
        core, q = f"ceil({x}/{m})", q  # floor((x + m - 1) / m)
    else:
        core = f"floor(({x} + {r})/{m})"
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
        first = out[data["inputs"][0]]
        window = data["op"].window(data["args"])
        if window == GLOBAL or first is None:  # sizes fixed by the op (global/adaptive pools)
            out[node] = (Length(const=data["shape"][1]), Length(const=data["shape"][2]))
        else:
            out[node] = tuple(first[axis].through(window.k[axis], window.s[axis],
                                                  window.p[axis], window.ceil)
                              for axis in (0, 1))
    return out


@dataclass(frozen=True)
class AxisRange:
    """The valid sizes of one input axis."""

    minimum: int | None  # None: no size up to SCAN_LIMIT works
    period: int  # the valid sizes repeat with this period from the minimum on
    residues: tuple[int, ...]  # valid sizes mod period
    periodic: bool = True  # False where merged paths have different strides

    def rule(self, symbol: str) -> str:
        if self.minimum is None:
            return f"no {symbol} up to {SCAN_LIMIT:,} is valid"
        text = f"{symbol} >= {self.minimum}"
        if not self.periodic:
            return text + " (paths of different strides line up only at some sizes)"
        if len(self.residues) == self.period:
            return text
        if len(self.residues) == 1:
            r = self.residues[0]
            return text + (f", {symbol} divisible by {self.period}" if r == 0 else
                           f", {symbol} = {r} mod {self.period}")
        return text + f", {symbol} mod {self.period} in {{{', '.join(map(str, self.residues))}}}"

    def to_json(self) -> dict:
        return {"min": self.minimum, "period": self.period, "residues": list(self.residues),
                "periodic": self.periodic}


def valid_sizes(graph, table: dict | None = None) -> tuple[AxisRange, AxisRange] | None:
    """The valid heights and widths of the input, or None for a flat input."""
    table = formulas(graph) if table is None else table
    if table.get("input") is None:
        return None
    axes = []
    for axis in (0, 1):
        lengths = {f[axis] for f in table.values() if f is not None}
        merges = {tuple(table[i][axis] for i in data["inputs"])
                  for node, data in graph.nodes(data=True)
                  if len(data["inputs"]) > 1 and table[node] is not None}
        merges = {m for m in merges if len(set(m)) > 1}
        axes.append(_axis_range(lengths, merges))
    return tuple(axes)


def _axis_range(lengths: set, merges: set) -> AxisRange:
    period = 1
    for length in lengths:
        for _, m in length.terms if length.const is None else ():
            period = lcm(period, m)

    def ok(n):
        return (all(length.at(n) >= 1 for length in lengths)
                and all(len({length.at(n) for length in m}) == 1 for m in merges))

    n = 1
    while n <= SCAN_LIMIT and not ok(n):
        n += 1
    if n > SCAN_LIMIT:
        return AxisRange(None, period, ())
    # All lengths are non-decreasing in n, so non-emptiness holds from n on; the
    # merge equalities repeat with `period` (each term shifts by a whole number).
    residues = tuple(sorted({x % period for x in range(n, n + period) if ok(x)}))
    again = tuple(sorted({x % period for x in range(n + period, n + 2 * period) if ok(x)}))
    return AxisRange(n, period, residues, periodic=residues == again)
