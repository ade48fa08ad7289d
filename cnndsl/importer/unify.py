"""The instances of one module class as one block: parameters and `if`.

The bodies of every instance are aligned statement by statement (by
skeleton). A statement some instances lack is optional: it is written
under an ``if`` whose condition is found among what a person writes (a
stride other than 1, a width change through ``in.channels``, either of
them), else a boolean parameter. A value that differs between instances
is a parameter, or an expression of one already made (``c * 4``), or of
the channels flowing in (``in.channels // 2``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .instances import Inst, default


class Mismatch(Exception):
    """Instances whose bodies do not align."""


@dataclass
class Slot:
    values: list  # one per instance, None where the statement is absent
    expr: object = None  # a literal, or Expr
    channel: bool = False  # a width: relations to in.channels are tried


@dataclass(frozen=True)
class Expr:
    text: str


@dataclass
class TNode:
    kind: str
    op: str
    name: str | None
    slots: dict
    children: list  # lists of TNode / TOpt
    in_channels: list  # per instance, None where absent
    in_repeat: bool = False


@dataclass
class TOpt:
    present: list  # per instance: True, False, or None where the context is absent
    body: list
    in_channels: list
    cond: str = ""


@dataclass
class Param:
    name: str
    values: list
    channel: bool
    default: object = None
    uses: set = field(default_factory=set)  # the arguments it is written in


@dataclass
class Template:
    body: list
    params: list = field(default_factory=list)


CHANNEL_ARGS = ("channels", "features")
PARAM_NAMES = {"channels": "c", "features": "f", "stride": "stride", "kernel": "k",
               "padding": "p", "groups": "g", "count": "n", "dilation": "d"}


def _channels(shape):
    return shape[0] if shape else None


def unify(bodies: list, in_channels: list | None = None) -> Template:
    """One template for the bodies (lists of Inst) of every instance, whose inputs
    have ``in_channels``."""
    starts = list(in_channels) if in_channels else [None] * len(bodies)
    body = _seq(bodies, starts, False)
    template = Template(body)
    _Namer(template, len(bodies)).run()
    return template


def _seq(seqs: list, starts: list, in_repeat: bool) -> list:
    present = [s for s in seqs if s is not None]
    if not present:
        return []
    master = max(present, key=len)
    columns = [[None] * len(seqs) for _ in master]
    for k, seq in enumerate(seqs):
        if seq is None:
            continue
        for i, j in _align(seq, master):
            columns[j][k] = seq[i]
    out = []
    current = [None if s is None else c for s, c in zip(seqs, starts)]
    for column in columns:
        here = [None if seqs[k] is None else
                (_channels(column[k].in_shape) if column[k] is not None else current[k])
                for k in range(len(seqs))]
        node = _node(column, in_repeat)
        for k, item in enumerate(column):
            if item is not None:
                current[k] = _channels(item.shape)
        presence = [None if seqs[k] is None else column[k] is not None for k in range(len(seqs))]
        if all(p is not False for p in presence):
            out.append(node)
        elif out and isinstance(out[-1], TOpt) and out[-1].present == presence:
            out[-1].body.append(node)
        else:
            out.append(TOpt(presence, [node], here))
    return out


def _align(seq: list, master: list) -> list:
    """Pairs (i, j): every statement of ``seq`` on a statement of ``master`` of the same
    shape, in order, preferring pairs whose values agree (dynamic programming);
    Mismatch if some statement has no place."""
    n, m = len(seq), len(master)
    worst = float("-inf")
    # best[i][j]: the score of placing seq[i:] on master[j:]
    best = [[worst] * (m + 1) for _ in range(n + 1)]
    for j in range(m + 1):
        best[n][j] = 0.0
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            skip = best[i][j + 1]
            take = worst
            if _shallow(seq[i]) == _shallow(master[j]) and best[i + 1][j + 1] > worst:
                same = sum(seq[i].values.get(k) == v for k, v in master[j].values.items())
                take = best[i + 1][j + 1] + 1 + same / 100
            best[i][j] = max(skip, take)
    if best[0][0] == worst:
        raise Mismatch("bodies do not align")
    pairs, i, j = [], 0, 0
    while i < n:
        if best[i][j] == best[i][j + 1]:
            j += 1
            continue
        pairs.append((i, j))
        i, j = i + 1, j + 1
    return pairs


def _shallow(inst: Inst):
    """What must agree for two statements to align; their paths are aligned in turn."""
    return inst.kind, inst.op, inst.name, len(inst.children)


def _node(column: list, in_repeat: bool) -> TNode:
    first = next(c for c in column if c is not None)
    names = list(dict.fromkeys(n for c in column if c is not None for n in c.values))
    slots = {}
    for n in names:
        vals = []
        for c in column:
            if c is None:
                vals.append(None)
            elif n in c.values:
                vals.append(c.values[n])
            else:
                vals.append(default(c.op, n) if c.kind == "layer" else None)
        width = n in first.widths if first.kind == "call" else n in CHANNEL_ARGS
        slots[n] = Slot(vals, channel=width)
    children = []
    for k in range(len(first.children)):
        seqs = [None if c is None else c.children[k] for c in column]
        starts = [None if c is None else _channels(c.in_shape) for c in column]
        children.append(_seq(seqs, starts, in_repeat or first.kind == "repeat"))
    ins = [None if c is None else _channels(c.in_shape) for c in column]
    return TNode(first.kind, first.op, first.name, slots, children, ins, in_repeat)


def _same(x, y) -> bool:
    """Equal and of one type: true is not 1."""
    return type(x) is type(y) and x == y


def _agree(a: list, b: list) -> bool:
    """Equal wherever both are known, and b known wherever a is."""
    return all(x is None or (y is not None and _same(x, y)) for x, y in zip(a, b))


def _fits(a: list, b: list) -> bool:
    """Equal wherever both are known."""
    return all(x is None or y is None or _same(x, y) for x, y in zip(a, b))


def _known(values):
    return [v for v in values if v is not None]


class _Namer:
    def __init__(self, template: Template, n: int):
        self.t, self.n = template, n
        self.channel_exprs = []  # (text, values): widths written in the block

    def run(self):
        self._walk(self.t.body)
        self._rename()
        self._conditions(self.t.body)
        for p in self.t.params:
            common = Counter(_known(p.values)).most_common(1)[0][0]
            if not p.channel:
                p.default = common
            # an instance that never reads the parameter passes the common value
            p.values = [common if v is None else v for v in p.values]
        # required parameters first, as the language wants
        self.t.params.sort(key=lambda p: p.default is not None)

    def _rename(self):
        """A parameter also written as a width is named as one (`c`, not `g`)."""
        renames, taken = {}, {p.name for p in self.t.params}
        for p in self.t.params:
            base = PARAM_NAMES["channels"]
            if "channels" in p.uses and not p.name.startswith(base):
                new, i = base, 2
                while new in taken:
                    new, i = f"{base}{i}", i + 1
                taken.add(new)
                renames[p.name] = new
        if not renames:
            return
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, renames)) + r")\b")
        for p in self.t.params:
            p.name = renames.get(p.name, p.name)
        self.channel_exprs = [(pattern.sub(lambda m: renames[m.group(1)], t), v)
                              for t, v in self.channel_exprs]
        self._apply(self.t.body, pattern, renames)

    def _apply(self, body, pattern, renames):
        for item in body:
            if isinstance(item, TOpt):
                self._apply(item.body, pattern, renames)
                continue
            for slot in item.slots.values():
                if isinstance(slot.expr, Expr):
                    slot.expr = Expr(pattern.sub(lambda m: renames[m.group(1)], slot.expr.text))
            for seq in item.children:
                self._apply(seq, pattern, renames)

    def _walk(self, body):
        for item in body:
            if isinstance(item, TOpt):
                self._walk(item.body)
                continue
            for name, slot in item.slots.items():
                slot.expr = self._expr(name, slot, item)
                if slot.channel and isinstance(slot.expr, Expr):
                    self.channel_exprs.append((slot.expr.text, slot.values))
            for seq in item.children:
                self._walk(seq)

    def _expr(self, name, slot, item):
        known = _known(slot.values)
        if len(set(map(repr, known))) <= 1:
            return known[0] if known else None
        for p in self.t.params:
            if _fits(slot.values, p.values):
                # where the parameter was unused, it takes this slot's values
                p.values = [v if v is not None else x for v, x in zip(p.values, slot.values)]
                p.uses.add(name)
                p.channel = p.channel or slot.channel
                return Expr(p.name)
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in known)
        if ints:
            for p in self.t.params:
                if not all(isinstance(v, int) and not isinstance(v, bool) and v
                           for v in _known(p.values)):
                    continue
                for k in (2, 3, 4, 6, 8):
                    if _agree(slot.values, [None if v is None else v * k for v in p.values]):
                        return Expr(f"{p.name} * {k}")
                    if _agree(slot.values, [None if v is None or v % k else v // k
                                            for v in p.values]):
                        return Expr(f"{p.name} // {k}")
            if slot.channel and not item.in_repeat:
                ins = item.in_channels
                for k, text in ((1, "in.channels"), (2, "in.channels * 2"),
                                (4, "in.channels * 4")):
                    if _agree(slot.values, [None if c is None else c * k for c in ins]):
                        return Expr(text)
                for k in (2, 4):
                    if _agree(slot.values, [None if c is None or c % k else c // k
                                            for c in ins]):
                        return Expr(f"in.channels // {k}")
        base = PARAM_NAMES.get(name, name)
        taken = {p.name for p in self.t.params}
        pname, i = base, 2
        while pname in taken or pname in ("in", "input", "same"):
            pname, i = f"{base}{i}", i + 1
        self.t.params.append(Param(pname, list(slot.values), slot.channel or name == "count",
                                   uses={name}))
        return Expr(pname)

    def _conditions(self, body):
        for item in body:
            if isinstance(item, TOpt):
                item.cond = self._condition(item)
                self._conditions(item.body)
            else:
                for seq in item.children:
                    self._conditions(seq)

    def _condition(self, opt: TOpt) -> str:
        candidates = []
        for p in self.t.params:
            if all(isinstance(v, int) and not isinstance(v, bool) for v in _known(p.values)):
                candidates.append((f"{p.name} != 1",
                                   [None if v is None else v != 1 for v in p.values]))
        for text in dict.fromkeys(text for text, _ in self.channel_exprs if "in." not in text):
            values = self._evaluate(text)
            candidates.append((f"in.channels != {text}",
                               [None if v is None or c is None else c != v
                                for c, v in zip(opt.in_channels, values)]))
        for text, got in candidates:
            if self._matches(got, opt.present):
                return text
        for i, (t1, g1) in enumerate(candidates):
            for t2, g2 in candidates[i + 1:]:
                both = [None if a is None or b is None else a or b for a, b in zip(g1, g2)]
                if self._matches(both, opt.present):
                    return f"{t1} or {t2}"
        taken = {p.name for p in self.t.params}
        first = opt.body[0]
        base = f"with_{first.op}" if isinstance(first, TNode) and first.kind in ("layer", "call") \
            else "with_paths"
        name, i = base, 2
        while name in taken:
            name, i = f"{base}{i}", i + 1
        self.t.params.append(Param(name, list(opt.present), False))
        return name

    def _evaluate(self, text: str) -> list:
        """A width written with parameters (`c`, `c * 4`), per instance."""
        out = []
        for k in range(self.n):
            scope = {p.name: p.values[k] for p in self.t.params}
            try:
                out.append(eval(text, {"__builtins__": {}}, scope))  # noqa: S307 - our own text
            except Exception:  # noqa: BLE001 - a parameter unknown in this instance
                out.append(None)
        return out

    @staticmethod
    def _matches(got, want) -> bool:
        return all(w is None or (g is not None and g == w) for g, w in zip(got, want))
