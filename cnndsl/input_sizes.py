"""The valid input sizes: every layer non-empty, every merge lined up, every crop
inside its input and every pool reading its input whole.

The sizes of every layer are :mod:`cnndsl.symbolic`'s formulas. Where all
are ``floor((H + b) / m)`` the valid inputs are solved, not searched (a scan
would have to cover the period, which doubles with every stride-2 layer).
Every layer is non-empty from ``max(m - b)`` on. A merge lines up where all
its paths give the same ``q``: ``floor((n + b_j) / m_j) == q`` puts ``n`` in
``[q*m_j - b_j, q*m_j - b_j + m_j - 1]``, so the sizes where a merge lines
up are a union of intervals, one per ``q``, and the ``q`` that give a
non-empty interval form a range found from the paths two by two. Paths of
one stride line up for every ``q`` (the condition repeats with the
stride: a congruence); paths of different strides only for finitely many.

A pool (``warn_unread_pixels``) must read its input whole, as lint W0302
asks and as the U-Net paper asks of every 2x2 pool: a condition on its
input length ``q`` modulo its stride, so again a congruence on ``n``.
(A size where a pool leaves pixels unread checks, with a warning; it is
not counted as valid.)

The smallest input is where every condition's next valid size agrees,
found by jumping from one condition's next interval to the next. The
valid sizes repeat with period ``lcm(m)``, which gives the divisibility
rule (a U-Net of four 2x pools needs ``H`` divisible by 16, or 12 mod 16
with its valid convolutions).

Through upsampling, transposed convs and crops to another tensor's size
the lengths are :class:`~cnndsl.symbolic.Chain` s: quasi-linear, each
within a known spread below ``slope*n + top`` and repeating with a period.
Every length is non-empty from the first size that makes it so (found by
doubling and halving: lengths never shrink as the input grows); merges
and crops of equal slopes repeat with the common period, of different
slopes they line up only below a bound (merges) or settle from one on
(crops); so a scan of one period (or up to the bound) decides, within
``SEARCH_LIMIT`` evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import lcm

from .ops import GLOBAL
from .passes.lint import unread_pixels
from .symbolic import Chain, Length, _wide, formulas

SEARCH_LIMIT = 1_000_000  # merge checks before giving up on a first valid size (about 1 s)
LIST_LIMIT = 4096  # residues are listed for periods up to this, described by congruences beyond


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


class _Whole:
    """A pool that reads its input whole (lint W0302 stays quiet; the U-Net paper asks
    it of every 2x2 pool): its input length ``q = floor((n + b) / m)`` leaves no real
    pixel unread, a condition on ``q mod s`` (for ``q >= 1``, `same` padding
    included), so on ``n mod m*s``."""

    def __init__(self, length: Length, window, axis: int):
        s = window.s[axis]
        self.length, self.s = length, s
        self.ok = tuple(unread_pixels(window, axis, q) == 0 for q in range(s, 2 * s))
        if length.const is not None:
            self.ok = (self.ok[length.const % s],) * s
        self.always, self.never = all(self.ok), not any(self.ok)
        starts = [r for r in range(s) if self.ok[r] and not self.ok[r - 1]]
        self.periodic = True  # it repeats with m*s
        self.runs = len(starts)  # runs of residues: one is a congruence (`same`, k < s: more)

    def next_valid(self, n: int) -> int | None:
        length = self.length
        q = length.at(n)
        for dq in range(self.s):
            if self.ok[(q + dq) % self.s]:
                return n if dq == 0 else (q + dq) * length.m - length.b
        return None

    def congruence(self) -> tuple[int, int, int]:
        """(m*s, r, w): its first run of residues (all of them where ``runs`` is 1)."""
        m, b, s = self.length.m, self.length.b, self.s
        start = next(r for r in range(s) if self.ok[r] and not self.ok[r - 1])
        run = next((w for w in range(s) if not self.ok[(start + w) % s]), s)
        return m * s, (start * m - b) % (m * s), run * m - 1


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
    listed: bool = True  # False: residues and congruences do not say which sizes are valid

    def rule(self, symbol: str) -> str:
        if self.minimum is None:
            return (f"no {symbol} found in {SEARCH_LIMIT:,} steps of the search" if self.gave_up
                    else f"no {symbol} is valid")
        text = f"{symbol} >= {self.minimum}"
        if not self.periodic:
            return text + " (paths of different strides line up only at some sizes)"
        if not self.listed:
            return text + f", only some sizes in every {self.period} (too many to list)"
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
                                for m, r, w in self.congruences],
                # false: neither residues nor congruences say which sizes past min are valid
                "listed": self.listed}


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
                  if data["op"].many_inputs and table[node] is not None}
        merges = {m for m in merges if len(set(m)) > 1}
        crops, pools = set(), set()
        for node, data in graph.nodes(data=True):
            if table[node] is None or not data["inputs"]:
                continue
            op, args, ins = data["op"], data["args"], data["inputs"]
            resize = op.resize(args, axis)
            if resize is not None and resize.fits and None not in (table[i] for i in ins):
                crops.add((table[ins[resize.source]][axis], table[ins[0]][axis]))
            if op.warn_unread_pixels and table[ins[0]] is not None:
                window = op.window(args)
                if window != GLOBAL and not window.ceil:
                    pools.add((table[ins[0]][axis], window, axis))
        if crops or any(isinstance(x, Chain) for x in lengths):
            axes.append(_scan_range(lengths, merges, crops, pools))
        else:
            axes.append(_axis_range(lengths, merges, pools))
    return tuple(axes)


def _merged(data, table: dict, axis: int) -> tuple[Length, ...]:
    """The lengths a merge needs equal. A merge that broadcasts (`mul`) takes a
    path of size 1 (a global pool's gate) at any size: it needs only the others
    equal. (A path that is 1 only at some small size is taken as not broadcast:
    the answer may then be a little stricter than torch.)"""
    paths = tuple(table[i][axis] for i in data["inputs"])
    return tuple(_wide(list(paths))) if data["op"].broadcasts else paths


def _axis_range(lengths: set, merges: set, pools=()) -> AxisRange:
    period = 1
    for length in lengths:
        if length.const is None:
            period = lcm(period, length.m)
    whole = [_Whole(*pool) for pool in pools]
    conditions = [_Merge(paths) for paths in merges] + [w for w in whole if not w.always]
    periodic = all(c.periodic for c in conditions)
    congruences = _prune({c.congruence() for c in conditions}) if periodic else ()
    if any(length.const is not None and length.const < 1 for length in lengths) or \
            any(w.never for w in whole):
        return AxisRange(None, period, (), periodic, congruences)
    # Lengths never decrease as n grows, so every layer is non-empty from here on.
    start = max([1] + [length.m - length.b for length in lengths if length.const is None])
    # Periodic merges line up again every lcm of their strides: none there, none ever.
    horizon = start + lcm(*(c.congruence()[0] for c in conditions)) if periodic else None
    minimum, gave_up = _first_valid(conditions, start, horizon)
    if minimum is None:
        return AxisRange(None, period, (), periodic, congruences, gave_up)
    residues = _residues(conditions, minimum, period)
    listed = residues is not None or all(getattr(c, "runs", 1) == 1 for c in conditions)
    return AxisRange(minimum, period, residues, periodic, congruences, listed=listed)


def _implies(b: tuple, a: tuple) -> bool:
    """Whether congruence ``b`` (n mod m in r..r+w, cyclic) implies ``a``."""
    (ma, ra, wa), (mb, rb, wb) = a, b
    if wa >= ma - 1:
        return True
    return mb % ma == 0 and wb < ma and (rb - ra) % ma + wb <= wa


def _prune(congruences: set) -> tuple:
    """The congruences that no other one implies (a U-Net's 2x2 pools each want an
    even size; being divisible by 16 says it all)."""
    kept = []
    for c in sorted(congruences, key=lambda c: (-c[0], c[2], c[1])):
        if not any(_implies(k, c) for k in kept):
            kept.append(c)
    return tuple(sorted(kept))


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


# ------------------------------------------------ through upsampling: a bounded scan


def _first_true(test) -> int | None:
    """The smallest n >= 1 where a monotone ``test`` holds (doubling, then halving)."""
    high = 1
    while not test(high):
        if high > 2**62:
            return None
        high *= 2
    low = high // 2 + 1 if high > 1 else 1
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if test(mid) else (mid + 1, high)
    return low


def _settling(inner, outer) -> tuple[int | None, int | None]:
    """Where ``inner.at(n) <= outer.at(n)`` stops changing, for lengths of different
    slopes: (from here on always, from here on never); each chain is within its
    spread below slope*n + top (``bounds``)."""
    (si, ti, di), (so, to, do) = inner.bounds(), outer.bounds()
    if si < so:  # inner - outer < (si - so) n + ti - to + do <= 1 from here on
        return max(0, _ceil_frac((ti - to + do - 1) / (so - si))), None
    if si > so:  # inner - outer > (si - so) n + ti - to - di >= 0 from here on
        return None, max(0, _ceil_frac((to - ti + di) / (si - so)))
    return None, None


def _ceil_frac(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def _scan_range(lengths: set, merges: set, crops: set, pools: set) -> AxisRange:
    """Valid sizes where some length goes through upsampling or a crop to another
    tensor's size: every layer non-empty from the first size that makes them so (they
    never shrink as the input grows), then a scan of the sizes. Merges and crops of
    lengths of equal slopes repeat with the lengths' common period; of different slopes
    they line up only below a bound (merges), or settle from one on (crops)."""
    period = lcm(*(length.period for length in lengths))
    growing = [x for x in lengths if x.const is None]
    if any(x.const is not None and x.const < 1 for x in lengths):
        return AxisRange(None, period, (), True)
    start = _first_true(lambda n: all(x.at(n) >= 1 for x in growing))
    if start is None:
        return AxisRange(None, period, (), True)
    settle, horizon = start, None
    pairs = [(p, q) for paths in merges for p in paths for q in paths if p != q]
    for inner, outer in pairs + list(crops):
        always, never = _settling(inner, outer)
        if (inner, outer) in crops and always is not None:
            settle = max(settle, always)
        if never is not None:  # a merge: inner > outer, or outer > inner (the pair swapped)
            horizon = never if horizon is None else min(horizon, never)
    whole = [(length, window, axis) for length, window, axis in pools]

    def valid(n: int) -> bool:
        return (all(len({p.at(n) for p in paths}) == 1 for paths in merges)
                and all(inner.at(n) <= outer.at(n) for inner, outer in crops)
                and all(unread_pixels(w, axis, x.at(n)) == 0 for x, w, axis in whole))

    cost = 1 + sum(len(p) for p in merges) + 2 * len(crops) + len(whole)
    periodic = horizon is None
    end = horizon if horizon is not None else max(start, settle) + period
    budget = SEARCH_LIMIT // cost
    n = start
    while n < end and not valid(n):
        n, budget = n + 1, budget - 1
        if budget <= 0:
            return AxisRange(None, period, (), periodic, gave_up=True)
    if n >= end:
        return AxisRange(None, period, (), periodic)
    if not periodic or period > LIST_LIMIT or period * cost > SEARCH_LIMIT:
        return AxisRange(n, period, None, periodic, listed=not periodic)
    base = max(n, settle)
    residues = tuple(sorted({x % period for x in range(base, base + period) if valid(x)}))
    return AxisRange(n, period, residues, periodic)
