"""Nested statements into blocks and the spec's text.

Module calls of one class become calls of one block, innermost classes
first (a block's body calls only blocks already made). Plain containers
(nn.Sequential, nn.ModuleList, nn.ModuleDict) are no blocks: at the top
level they are stages, inside a block their layers are written in place.
"""

from __future__ import annotations

import keyword

from .emit import Writer, block_text
from .instances import Inst, compress, short
from .structure import Call, Layer, Merge, statements
from .unify import Expr, Mismatch, TNode, unify
from ..expressions import BUILTINS, PREDEFINED
from ..ops.base import NAMES
from ..parser import keywords, merge_kinds

# Words a name may not be: the grammar's, the merges', and the expressions' own.
RESERVED = keywords() | merge_kinds() | set(BUILTINS) | set(PREDEFINED)


def _snake(name: str) -> str:
    from . import _snake as snake
    return snake(name)


class _Builder:
    def __init__(self):
        self.blocks = {}  # name -> Template, in definition order
        self.resolved = {}  # id(Call) -> Inst
        self.inline = set()  # classes written in place (containers, self-nesting)

    # -- which classes become blocks, innermost first
    def plan(self, body: list):
        calls = []
        self._collect(body, calls, ())
        by_class = {}
        for call, outer in calls:
            if call.container:
                continue
            if call.cls in outer:
                self.inline.add(call.cls)
            by_class.setdefault(call.cls, []).append(call)
        heights = {}
        for cls, instances in by_class.items():
            heights[cls] = max(self._height(c) for c in instances)
        for cls in sorted(by_class, key=lambda c: heights[c]):
            if cls not in self.inline:
                self._make_blocks(cls, by_class[cls])

    def _collect(self, body, calls, outer):
        for s in body:
            if isinstance(s, Call):
                calls.append((s, outer))
                self._collect(s.body, calls, outer if s.container else outer + (s.cls,))
            elif isinstance(s, Merge):
                for p in s.paths:
                    self._collect(p, calls, outer)

    def _height(self, call) -> int:
        inner = [self._height(s) for s in _calls_in(call.body)]
        return max(inner, default=0) + (0 if call.container else 1)

    def _make_blocks(self, cls: str, instances: list):
        bodies = [self.seq(c.body) for c in instances]
        base = _snake(cls)
        if base in NAMES or base in RESERVED or keyword.iskeyword(base):
            base += "_block"
        if any(name == base or name.rstrip("0123456789") == base for name in self.blocks):
            base += "_"  # two classes of one name (from two modules)
        everyone = list(range(len(instances)))
        plain = [self.seq(c.body, squeeze=False) for c in instances]
        # one block if the calls align (runs that repeat in one call only: unrolled);
        # else as few blocks as align, each call joining the first it aligns with
        ins = [c.in_shape[0] for c in instances]
        for candidate in (bodies, plain):
            template = _unified(candidate, ins)
            if template is not None:
                groups = [(base, everyone, template)]
                break
        else:
            members = []
            for k in everyone:
                for group in members:
                    if _unified([bodies[i] for i in group + [k]],
                                [ins[i] for i in group + [k]]) is not None:
                        group.append(k)
                        break
                else:
                    members.append([k])
            groups = [(f"{base}{n}", group, _unified([bodies[i] for i in group],
                                                     [ins[i] for i in group]))
                      for n, group in enumerate(members, start=1)]
        for name, members, template in groups:
            self.blocks[name] = template
            for j, k in enumerate(members):
                call = instances[k]
                values = {p.name: p.values[j] for p in template.params}
                widths = frozenset(p.name for p in template.params if p.channel)
                self.resolved[id(call)] = Inst("call", name, values, [], call.in_shape,
                                               call.shape, widths=widths)

    # -- statements into instances
    def seq(self, body: list, top: bool = False, squeeze: bool = True) -> list:
        out = []
        for s in body:
            out.extend(self.stmt(s, top, squeeze))
        return compress(out) if squeeze else out

    def stmt(self, s, top: bool, squeeze: bool = True) -> list:
        if isinstance(s, Layer):
            n = s.node
            name = n.name if top and n.name and _valid(n.name) else None
            return [Inst("layer", n.op, _short_args(n.op, n.args), [], n.in_shapes[0], n.shape,
                         name)]
        if isinstance(s, Merge):
            return [Inst("merge", s.kind, {}, [self.seq(p, squeeze=squeeze) for p in s.paths],
                         s.in_shape, s.shape)]
        if id(s) in self.resolved:
            inst = self.resolved[id(s)]
            if top and _valid(s.qualname):
                inst = Inst(inst.kind, inst.op, inst.values, [], inst.in_shape, inst.shape,
                            s.qualname, inst.widths)
            return [inst]
        if top and s.container and _valid(s.qualname):
            return [Inst("stage", s.qualname, {}, [self.seq(s.body)], s.in_shape, s.shape)]
        return [x for c in s.body for x in self.stmt(c, False, squeeze)]


def _short_args(op: str, args: dict) -> dict:
    """(2, 2) as 2 for windows, so that a stride and a block parameter compare as written."""
    types = {a.name: a.type for a in NAMES[op].args}
    return {k: short(v, types[k]) for k, v in args.items()}


def _unified(bodies: list, in_channels: list):
    try:
        return unify(bodies, in_channels)
    except Mismatch:
        return None


def _calls_in(body):
    for s in body:
        if isinstance(s, Call):
            yield s
        elif isinstance(s, Merge):
            for p in s.paths:
                yield from _calls_in(p)


def _valid(name: str) -> bool:
    """A name worth `as NAME`: a valid one that is not what the spec names it anyway."""
    base, _, number = name.rpartition("_")
    automatic = number.isdigit() and (base in NAMES or base in ("path", "stage"))
    return name.isidentifier() and name not in RESERVED and not keyword.iskeyword(name) \
        and name not in NAMES and not automatic


def build(traced, name: str) -> str:
    body = statements(traced)
    builder = _Builder()
    builder.plan(body)
    top = builder.seq(body, top=True)
    template = unify([top])
    classes = _classes(template.body, traced)
    writer = Writer(builder.blocks)
    first, *spatial = traced.input_shape
    width = "in_channels" if spatial else "features"
    header = f"network {name}({width} = {first}"
    header += f", classes = {classes})" if classes else ")"
    lines = [header, f"input [{', '.join([width, *map(str, spatial)])}]", ""]
    for block, t in builder.blocks.items():
        lines.extend(block_text(block, t, writer))
        lines.append("")
    lines.extend(writer.seq(template.body, 0))
    return "\n".join(lines) + "\n"


def _classes(body: list, traced) -> int | None:
    """Write the last linear layer's width as `classes` where it is the output's."""
    last = body[-1] if body else None
    while isinstance(last, TNode) and last.kind == "stage" and last.children[0]:
        last = last.children[0][-1]
    if isinstance(last, TNode) and last.kind == "layer" and last.op == "linear":
        slot = last.slots.get("features")
        if slot is not None and not isinstance(slot.expr, Expr):
            width = slot.expr
            slot.expr = Expr("classes")
            return width
    return None
