"""Sizes as formulas of the input's height and width, and the valid input sizes.

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

The valid inputs are solved, not searched (a scan would have to cover the
period, which doubles with every stride-2 layer). Every layer is non-empty
from ``max(m - b)`` on. A merge lines up where all its paths give the same
``q``: ``floor((n + b_j) / m_j) == q`` puts ``n`` in
``[q*m_j - b_j, q*m_j - b_j + m_j - 1]``, so the sizes where a merge lines
up are a union of intervals, one per ``q``, and the ``q`` that give a
non-empty interval form a range found from the paths two by two. Paths of
one stride line up for every ``q`` (the condition repeats with the
stride: a congruence); paths of different strides only for finitely many.
The smallest input is where every merge's next valid size agrees, found
by jumping from one merge's next interval to the next. The valid sizes
repeat with period ``lcm(m)``, which gives the divisibility rule (a U-Net
of four 2x pools needs ``H`` divisible by 16).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import lcm

from .ops import GLOBAL
from .ops.base import window_out

SEARCH_LIMIT = 1_000_000  # merge checks before giving up on a first valid size (about 1 s)
LIST_LIMIT = 4096  # residues are listed for periods up to this, described by congruences beyond


@dataclass(frozen=True)
class Length:
    """``floor((X + b) / m)``, or a constant."""

    b: int = 0
    m: int = 1
    const: int | None = None

    def through(self, window, axis: int) -> "Length":
        """The length after ``window`` (an op's :class:`Window`) along ``axis``."""
        k, s = window.k[axis], window.s[axis]  # k is the extent, dilation included
        if self.const is not None:
            return Length(const=window.out(axis, self.const))
        if window.ceil:  # min(ceil((n + 2p - k) / s) + 1, ceil((n + p) / s)): the smaller offset
            p = window.p[axis]  # symmetric: the ops refuse ceil with per-side padding
            step = min(2 * p - k + 2 * s - 1, p + s - 1)
        else:  # floor((n + before + after - k) / s) + 1; `same` is ceil(n / s): total k - 1
            step = window.total_padding(axis) - k + s
        return Length(self.b + step * self.m, self.m * s)

    def at(self, n: int) -> int:
        return self.const if self.const is not None else (n + self.b) // self.m

    def format(self, symbol: str) -> str:
        if self.const is not None:
            return str(self.const)
        return _term(self.b, self.m, symbol)


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
        ins = [out[i] for i in data["inputs"]]
        window = data["op"].window(data["args"])
        if data["op"].broadcasts and None not in ins:  # a gate of size 1 takes the others' size
            out[node] = tuple(_wide([i[axis] for i in ins])[0] for axis in (0, 1))
        elif window == GLOBAL or ins[0] is None:  # sizes fixed by the op (global/adaptive pools)
            out[node] = (Length(const=data["shape"][1]), Length(const=data["shape"][2]))
        else:
            out[node] = tuple(ins[0][axis].through(window, axis) for axis in (0, 1))
    return out


# --------------------------------------------------------------- merges


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class _Merge:
    """Where the paths of one merge give equal lengths: ``n`` in
    ``[lo(q), hi(q)]`` for ``q`` in ``[first, last]``, with
    ``lo(q) = max(q*m - b)`` and ``hi(q) = min(q*m - b + m - 1)`` over the paths."""

    def __init__(self, paths: tuple[Length, ...]):
        consts = {p.const for p in paths if p.const is not None}
        groups: dict[int, tuple[int, int]] = {}  # stride -> (smallest b, largest b)
        for p in paths:
            if p.const is None:
                low, high = groups.get(p.m, (p.b, p.b))
                groups[p.m] = (min(low, p.b), max(high, p.b))
        self.groups = groups
        first = last = None  # None: unbounded
        if consts:
            first = last = min(consts)
        empty = len(consts) > 1 or any(high - low > m - 1 for m, (low, high) in groups.items())
        # lo(q) <= hi(q), path by path: q*m_i - b_i <= q*m_j - b_j + m_j - 1.
        for m_i, (b_i, _) in groups.items():
            for m_j, (_, b_j) in groups.items():
                if m_i == m_j:
                    continue
                room, slope = b_i - b_j + m_j - 1, m_i - m_j
                if slope > 0:
                    last = room // slope if last is None else min(last, room // slope)
                else:
                    bound = _ceil_div(room, slope)
                    first = bound if first is None else max(first, bound)
        self.empty = empty or (first is not None and last is not None and first > last)
        self.first, self.last = first, last
        # Paths of one stride line up again one stride later, for ever.
        self.periodic = not self.empty and first is None and last is None

    def next_valid(self, n: int) -> int | None:
        """The smallest size >= n where the paths line up; None if there is none."""
        if self.empty:
            return None
        # The smallest q whose interval reaches n: hi(q) >= n.
        q = max(_ceil_div(n + high - m + 1, m) for m, (_, high) in self.groups.items()) \
            if self.groups else self.first
        if self.first is not None:
            q = max(q, self.first)
        if self.last is not None and q > self.last:
            return None
        return max([n] + [q * m - low for m, (low, _) in self.groups.items()])

    def congruence(self) -> tuple[int, int, int]:
        """(m, r, w) of a periodic merge: it lines up where ``n mod m`` is one of
        ``r, r + 1, ..., r + w`` (mod m)."""
        (m, (low, high)), = self.groups.items()
        return m, -low % m, m - 1 - (high - low)


# ------------------------------------------------------------ the answer


@dataclass(frozen=True)
class AxisRange:
    """The valid sizes of one input axis."""

    minimum: int | None  # None: no size is valid (or none was found, see `gave_up`)
    period: int  # the valid sizes repeat with this period from the minimum on
    residues: tuple[int, ...] | None  # valid sizes mod period; None: period too long to list
    periodic: bool = True  # False where merged paths have different strides
    congruences: tuple[tuple[int, int, int], ...] = ()  # (m, r, w): n mod m in r..r+w
    gave_up: bool = False  # the search stopped before it found or ruled out a size

    def rule(self, symbol: str) -> str:
        if self.minimum is None:
            return (f"no {symbol} found in {SEARCH_LIMIT:,} steps of the search" if self.gave_up
                    else f"no {symbol} is valid")
        text = f"{symbol} >= {self.minimum}"
        if not self.periodic:
            return text + " (paths of different strides line up only at some sizes)"
        if self.residues is None:
            return ", ".join([text] + [_congruence(c, symbol) for c in self.congruences])
        if len(self.residues) == self.period:
            return text
        if len(self.residues) == 1:
            r = self.residues[0]
            return text + (f", {symbol} divisible by {self.period}" if r == 0 else
                           f", {symbol} = {r} mod {self.period}")
        return text + f", {symbol} mod {self.period} in {{{', '.join(map(str, self.residues))}}}"

    def to_json(self) -> dict:
        return {"min": self.minimum, "period": self.period,
                "residues": None if self.residues is None else list(self.residues),
                "periodic": self.periodic,
                # size mod modulus in from..to (wrapping past modulus - 1 when to < from)
                "congruences": [{"modulus": m, "from": r, "to": (r + w) % m}
                                for m, r, w in self.congruences]}


def _congruence(c: tuple[int, int, int], symbol: str) -> str:
    m, r, w = c
    if w == 0:
        return f"{symbol} divisible by {m}" if r == 0 else f"{symbol} = {r} mod {m}"
    end = (r + w) % m
    wrapped = f"{r}..{m - 1} or 0..{end}" if end < r else f"{r}..{end}"
    return f"{symbol} mod {m} in {wrapped}"


def valid_sizes(graph, table: dict | None = None) -> tuple[AxisRange, AxisRange] | None:
    """The valid heights and widths of the input, or None for a flat input."""
    table = formulas(graph) if table is None else table
    if table.get("input") is None:
        return None
    axes = []
    for axis in (0, 1):
        lengths = {f[axis] for f in table.values() if f is not None}
        merges = {_merged(data, table, axis) for node, data in graph.nodes(data=True)
                  if len(data["inputs"]) > 1 and table[node] is not None}
        merges = {m for m in merges if len(set(m)) > 1}
        axes.append(_axis_range(lengths, merges))
    return tuple(axes)


def _wide(lengths: list) -> list:
    """The lengths of a broadcasting merge's paths that are not a size-1 gate."""
    return [x for x in lengths if x != Length(const=1)] or lengths


def _merged(data, table: dict, axis: int) -> tuple[Length, ...]:
    """The lengths a merge needs equal. A merge that broadcasts (`mul`) takes a
    path of size 1 (a global pool's gate) at any size: it needs only the others
    equal. (A path that is 1 only at some small size is taken as not broadcast:
    the answer may then be a little stricter than torch.)"""
    paths = tuple(table[i][axis] for i in data["inputs"])
    return tuple(_wide(list(paths))) if data["op"].broadcasts else paths


def _axis_range(lengths: set, merges: set) -> AxisRange:
    period = 1
    for length in lengths:
        if length.const is None:
            period = lcm(period, length.m)
    conditions = [_Merge(paths) for paths in merges]
    periodic = all(c.periodic for c in conditions)
    congruences = tuple(sorted({c.congruence() for c in conditions})) if periodic else ()
    if any(length.const is not None and length.const < 1 for length in lengths):
        return AxisRange(None, period, (), periodic, congruences)
    # Lengths never decrease as n grows, so every layer is non-empty from here on.
    start = max([1] + [length.m - length.b for length in lengths if length.const is None])
    # Periodic merges line up again every lcm of their strides: none there, none ever.
    horizon = start + lcm(*(c.congruence()[0] for c in conditions)) if periodic else None
    minimum, gave_up = _first_valid(conditions, start, horizon)
    if minimum is None:
        return AxisRange(None, period, (), periodic, congruences, gave_up)
    return AxisRange(minimum, period, _residues(conditions, minimum, period), periodic,
                     congruences)


def _residues(conditions: list, minimum: int, period: int) -> tuple[int, ...] | None:
    """The valid sizes of one period from the minimum on, mod period; None past
    LIST_LIMIT (the congruences say it then)."""
    if period > LIST_LIMIT:
        return None
    found, n = set(), minimum
    while n is not None and n < minimum + period:
        found.add(n % period)
        n, gave_up = _first_valid(conditions, n + 1, minimum + period)
        if gave_up:
            return None
    return tuple(sorted(found))


def _first_valid(conditions: list, n: int, horizon: int | None) -> tuple[int | None, bool]:
    """(the smallest size >= n where every merge lines up, gave up); (None, False):
    there is none (below ``horizon``, where one is given)."""
    checks = 0
    while checks < SEARCH_LIMIT:
        checks += len(conditions) or 1
        moved = False
        for c in conditions:
            nxt = c.next_valid(n)
            if nxt is None or horizon is not None and nxt >= horizon:
                return None, False
            if nxt != n:
                n, moved = nxt, True
        if not moved:
            return n, False
    return None, True
