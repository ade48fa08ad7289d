"""Concrete statements with their values, and runs of equal ones as `repeat`.

An :class:`Inst` is one statement as one module call has it: a layer, a
merge of paths, a block call or a repeat, with the values it was written
with and the shapes flowing in and out. ``key`` is what the text says
(values included, shapes left out): equal keys in a row become ``repeat``.
``skeleton`` leaves out the values too: instances of one block must agree
on it, up to statements that some of them lack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ops.base import NAMES, REQUIRED, Op, Pair, Padding

# The layers with weights that multiply (conv, linear and kin: those with a MAC rule);
# a line of a spec starts with one of them.
HEAVY = frozenset(name for name, op in NAMES.items() if type(op).macs is not Op.macs)


@dataclass
class Inst:
    kind: str  # "layer", "merge", "call", "repeat"
    op: str  # the layer, merge kind or block name
    values: dict = field(default_factory=dict)
    children: list = field(default_factory=list)  # lists of Inst: paths, a repeat's body
    in_shape: tuple = ()
    shape: tuple = ()
    name: str | None = None  # `as NAME`
    widths: frozenset = frozenset()  # a call's parameters that are widths

    def key(self):
        return (self.kind, self.op, self.name, tuple(sorted(self.values.items(), key=str)),
                tuple(tuple(c.key() for c in seq) for seq in self.children))

    def skeleton(self):
        return (self.kind, self.op, self.name,
                tuple(tuple(c.skeleton() for c in seq) for seq in self.children))


def default(op: str, arg: str):
    """The value an op's argument takes when it is not written (REQUIRED if none)."""
    spec = next(a for a in NAMES[op].args if a.name == arg)
    if spec.default is REQUIRED or spec.default is None:
        return spec.default
    return short(spec.type(spec.default), spec.type)


def short(v, arg_type):
    """(3, 3) as 3 for a window argument, as people write it."""
    arg_type = getattr(arg_type, "inner", arg_type)
    if isinstance(arg_type, (Pair, Padding)) and isinstance(v, tuple) and len(v) == 2 \
            and v[0] == v[1] and not isinstance(v[0], tuple):
        return v[0]
    return v


def heavy(inst: Inst) -> bool:
    """A statement that starts a line: a layer with weights, a call or a compound."""
    return inst.kind != "layer" or inst.op in HEAVY


def _named(inst: Inst) -> bool:
    """Whether the statement, or one inside its paths, carries an `as` name."""
    return inst.name is not None or any(_named(c) for seq in inst.children for c in seq)


def compress(seq: list, longest: int = 6) -> list:
    """Runs of equal statements (or equal groups of up to ``longest``) as ``repeat N``."""
    out, i = [], 0
    while i < len(seq):
        best = None
        for period in range(1, longest + 1):
            if i + 2 * period > len(seq):
                break
            if period > 1 and not heavy(seq[i]):
                continue  # a run reads from its layer with weights on: `conv relu`, not `relu conv`
            if any(_named(s) for s in seq[i:i + period]):
                continue  # `as NAME` would give one name to every turn (E0210)
            unit = [s.key() for s in seq[i:i + period]]
            count = 1
            while seq[i + count * period: i + (count + 1) * period] and \
                    [s.key() for s in seq[i + count * period: i + (count + 1) * period]] == unit:
                count += 1
            if count >= 2 and (best is None or count * period > best[0] * best[1]):
                best = (count, period)
        if best is None:
            out.append(seq[i])
            i += 1
            continue
        count, period = best
        body = seq[i:i + period]
        out.append(Inst("repeat", "repeat", {"count": count}, [body], body[0].in_shape,
                        seq[i + count * period - 1].shape))
        i += count * period
    return out
