"""The template of one scope's class: its ``__init__`` lines and its ``forward``.

The forward is straight-line code in spec order (a topological order): one
statement per layer or sub-scope call, merges as ``torch.cat`` / ``+`` from
the op's ``forward_source``. Variables are reused once their value is dead,
like a register allocator: the innermost path's name inside a path, ``x``
on the trunk. Nothing walks the graph at call time, and every attribute read
is one level deep (``self.conv_1``), as in hand-written modules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..ops.base import Param, fmt_shape
from .codegen_classes import Instance, Templates, argument_names, is_slot_value, numeric_defaults
from .codegen_tree import CLASS, INLINE, Scope, inputs_of

_NUMBERED = re.compile(r"^(.*)_(\d+)$")
RUN = 3  # this many equal layers or calls in a row become a loop


@dataclass
class Statement:
    reads: list
    defs: list
    bases: list  # a variable base name per def
    make: object  # (input variables) -> expression
    node: str | None = None  # the layer, for the line map and probes
    comment: str = ""  # the shape, shown where the class has one instance
    late: bool = False  # runs only in training
    note: list | None = None  # comment lines instead of code


class Builder:
    """Writes the templates of every class-form scope, children first."""

    def __init__(self, graph, ctors: dict, dropped: dict, namer, deferred: set, helpers):
        self.graph, self.ctors, self.dropped = graph, ctors, dropped
        self.namer, self.deferred, self.h = namer, deferred, helpers
        self.instances: list[Instance] = []
        self.peeked: dict[str, Instance] = {}
        self.keywords: dict[str, set] = {}  # class -> keywords given a number somewhere
        for ctor in ctors.values():
            if ctor is not None and hasattr(ctor, "kwargs"):
                self.keywords.setdefault(ctor.cls, set()).update(
                    k for k, v in ctor.kwargs.items() if is_slot_value(v))

    def attr(self, scope_or_node) -> str:
        """The attribute name of a scope or layer on its parent module."""
        sid = scope_or_node.id if isinstance(scope_or_node, Scope) else scope_or_node
        return self.namer.path(sid).rsplit(".", 1)[-1]

    # ------------------------------------------------------------ templates

    def instance(self, scope: Scope) -> Instance:
        inst = Instance(scope)
        t = Templates(inst)
        stmts: list[Statement] = []
        self._body(scope, "", inst, t, stmts)
        if scope.ins:
            first = self.graph.nodes[scope.ins[0]]["shape"]
            inst.in_channels = first[0] if first else None
        inst.forward, inst.inputs = self._allocate(scope, stmts)
        child_keys = tuple(child.key for child, _ in inst.calls)
        inst.key = (scope.kind if scope.kind != "block" else "block " + _definition(scope),
                    tuple(line for line, _ in inst.init),
                    tuple(code for code, _, _ in inst.forward), child_keys, tuple(inst.inputs),
                    tuple(sorted(inst.steps.items())))
        self.instances.append(inst)
        return inst

    def _body(self, scope: Scope, prefix: str, inst: Instance, t: Templates, stmts: list):
        for item in scope.items:
            if isinstance(item, str):
                self._layer(item, prefix, inst, t, stmts)
                continue
            rel = prefix + self.attr(item)
            late = all(v in self.deferred for v in item.nodes)
            if item.form == INLINE:
                inst.init.append((f"self.{rel} = Scope()", None))
                note = item.id + (": " + item.label if item.label != item.kind else "")
                if item.kind != "path":
                    stmts.append(Statement([], [], [], None, late=late, note=[note]))
                self._body(item, rel + ".", inst, t, stmts)
                continue
            if item.form == CLASS:
                child = self.instance(item)
                inst.init.append((f"self.{rel} = {t.call(child)}", None))
            else:
                inst.init += self._chain(item, rel, t)
            shape = fmt_shape(self.graph.nodes[item.outs[0]]["shape"]) if len(item.outs) == 1 \
                else ""
            stmts.append(Statement(list(item.ins), list(item.outs), self._bases(item, inst.scope),
                                   lambda ins, rel=rel: f"self.{rel}({', '.join(ins)})",
                                   comment=shape, late=late))

    def _layer(self, v: str, prefix: str, inst: Instance, t: Templates, stmts: list):
        data = self.graph.nodes[v]
        ctor = self.ctors[v]
        rel = prefix + self.attr(v)
        reads = inputs_of(self.graph, v, self.dropped)
        op, args = data["op"], data["args"]
        if isinstance(ctor, Param):
            inst.init.append((f"self.{rel} = {self._param(ctor, t)}", v))
            make = lambda ins: op.forward_source(args, [*ins, f"self.{rel}"])  # noqa: E731
        elif ctor is not None:
            inst.init.append((f"self.{rel} = {self._ctor(ctor, t, data)}", v))
            make = lambda ins: f"self.{rel}({', '.join(ins)})"  # noqa: E731
        else:
            make = lambda ins: op.forward_source(args, ins)  # noqa: E731
        paths = [n for kind, n, _ in data["scope"][self._depth(inst.scope):] if kind == "path"]
        stmts.append(Statement(reads, [v], [paths[-1] if paths else "x"], make, v,
                               fmt_shape(data["shape"]), v in self.deferred))

    def _ctor(self, ctor, t: Templates, data: dict) -> str:
        """`nn.Conv2d(3, 64, kernel_size=3)`, numbers as slots. A keyword that other
        layers of the class are given (`stride=2`) is a slot here too, at its default,
        in the constructor's own order: calls with and without it share a template.
        A positional number that is one block parameter's value (`conv(c2[0])`) is
        named after it (`c2_0`), else after the constructor's argument."""
        head = self.h.ctor_head(ctor)
        own = bool(getattr(ctor, "source", ""))
        names = argument_names(ctor.cls, ctor.source if own else "")
        spec = data.get("from_parameters", {})
        args = [t.slot(a, (ctor.cls, _spec_name(a, spec, data["args"]) or
                           (names[i] if i < len(names) else f"arg{i}"), False))
                if is_slot_value(a) else self.h.literal(a) for i, a in enumerate(ctor.args)]
        defaults = numeric_defaults(ctor.cls) if not own and ctor.args else {}
        given = self.keywords.get(ctor.cls, set())
        order = [n for n in names[len(ctor.args):] if n in ctor.kwargs or n in given]
        order += [n for n in ctor.kwargs if n not in order]
        text = ", ".join(args)
        for k in order:
            if k in defaults and (k not in ctor.kwargs or is_slot_value(ctor.kwargs[k])):
                value = ctor.kwargs.get(k, defaults[k])
                text += t.implicit(k, value, ctor.cls, defaults[k], lead=bool(text))
            elif k in ctor.kwargs:
                v = ctor.kwargs[k]
                text += (", " if text else "") + \
                    f"{k}={t.slot(v, (ctor.cls, k, True)) if is_slot_value(v) else self.h.literal(v)}"
        return f"{head}({text})"

    def _param(self, param: Param, t: Templates) -> str:
        dims = [t.slot(d, ("Parameter", "channels", False)) if i == 0 else self.h.literal(d)
                for i, d in enumerate(param.shape)]
        shape = f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
        fill = t.slot(float(param.fill), ("Parameter", "init_value", False))
        return f"nn.Parameter(torch.full({shape}, {fill}))"

    def _chain(self, scope: Scope, rel: str, t: Templates) -> list:
        """An nn.Sequential with named children: `Stage(a=..., b=...)`, then a loop
        per run of calls that differ only by a constant step in their numbers
        (`Denselayer(64 + 32 * i)`), and the rest, registered in spec order."""
        cls = self.chain_class(scope)
        runs, i = [], 0  # (first index, end index, steps)
        while i < len(scope.items):
            j, step = i + 1, None
            while j < len(scope.items):
                d = self._step(scope.items[i], scope.items[j], j - i)
                if d is None or (step is not None and d != step):
                    break
                step, j = d, j + 1
            if j - i >= RUN:
                runs.append((i, j, step))
                i = j
            else:
                runs.append((i, i + 1, None))
                i += 1
        head, lines = [], []
        for start, end, step in runs:
            item = scope.items[start]
            simple = isinstance(item, str) or item.form == CLASS
            if simple and not lines and end == start + 1:
                head.append(f"{self.attr(item)}={self._source(item, t)}")
            elif end > start + 1:
                base, first = _NUMBERED.match(self.attr(item)).groups()
                first, n = int(first), end - start
                mark = len(t.inst.slots)
                source = self._source(item, t)
                for other in scope.items[start + 1:end]:  # their values decide the arguments
                    if isinstance(other, Scope):
                        self.instance(other)
                for k, d in enumerate(step):
                    if d:
                        t.inst.steps[mark + k] = d
                if any(step):
                    name = f'f"{base}_{{i + {first}}}"' if first else f'f"{base}_{{i}}"'
                    lines.append((f"for i in range({n}):", None))
                else:
                    name = f'f"{base}_{{i}}"'
                    lines.append((f"for i in range({first}, {first + n}):", None))
                lines.append((f"    self.{rel}.add_module({name}, {source})", None))
            elif simple:
                lines.append((f"self.{rel}.{self.attr(item)} = {self._source(item, t)}",
                              item if isinstance(item, str) else None))
            else:
                lines += self._chain(item, f"{rel}.{self.attr(item)}", t)
        if len(head) == 1:
            opening = [(f"self.{rel} = {cls}({head[0]})", None)]
        elif head:
            opening = [(f"self.{rel} = {cls}(", None)]
            opening += [(f"    {entry},", None) for entry in head] + [(")", None)]
        else:
            opening = [(f"self.{rel} = {cls}()", None)]
        return opening + lines

    def chain_class(self, scope: Scope) -> str:
        """`Path`, `Stage`, or for a block the class named after it (an empty Stage subclass)."""
        if scope.kind == "block":
            return self.h.sequential(scope)
        return "Path" if scope.kind == "path" else "Stage"

    def _source(self, item, t: Templates) -> str:
        if isinstance(item, str):
            return self._ctor(self.ctors[item], t, self.graph.nodes[item])
        return t.call(self.instance(item))

    def _step(self, a, b, distance: int):
        """How b's numbers differ from a's, per slot and per place, if b repeats a
        `distance` places on (same constructor or template, name `base_<n + distance>`,
        whole-number steps); else None."""
        ma, mb = _NUMBERED.match(self.attr(a)), _NUMBERED.match(self.attr(b))
        if not (ma and mb and ma.group(1) == mb.group(1)
                and int(mb.group(2)) == int(ma.group(2)) + distance):
            return None
        if isinstance(a, str) and isinstance(b, str):
            if not (self.h.is_module(a) and self.h.is_module(b)):
                return None
            sa, sb = self._peek_layer(a), self._peek_layer(b)
        elif isinstance(a, Scope) and isinstance(b, Scope) and a.form == b.form == CLASS:
            sa, sb = self._peek(a), self._peek(b)
            if sa.key != sb.key:
                return None
            sa, sb = (sa.key, sa.slots, sa.hints), (sb.key, sb.slots, sb.hints)
        else:
            return None
        (ka, va, ha), (kb, vb, _) = sa, sb
        if ka != kb:
            return None
        step = []
        for x, y, hint in zip(va, vb, ha):
            if x == y:
                step.append(0)
            elif (type(x) is int and type(y) is int and (y - x) % distance == 0
                  and len(hint) < 4):  # a keyword at its default is written or not: no steps
                step.append((y - x) // distance)
            else:
                return None
        return tuple(step)

    def _peek_layer(self, v: str):
        inst = Instance(Scope("", "peek", "", ""))
        text = self._ctor(self.ctors[v], Templates(inst), self.graph.nodes[v])
        return text, inst.slots, inst.hints

    def _peek(self, scope: Scope) -> Instance:
        """The template of a call, to compare it, without keeping it."""
        if scope.id not in self.peeked:
            saved = len(self.instances)
            self.peeked[scope.id] = self.instance(scope)
            del self.instances[saved:]
        return self.peeked[scope.id]

    # ------------------------------------------------------------ variables

    def _depth(self, scope: Scope) -> int:
        return len(scope.id.split(".")) if scope.id else 0

    def _bases(self, item: Scope, cls: Scope) -> list:
        """Variable names for a call's results: the innermost path's name, else `x`."""
        chain, s = [], item
        while s is not None and s is not cls:
            chain.append(s)
            s = s.parent
        paths = [s.name for s in chain if s.kind == "path"]
        first = paths[0] if paths else "x"
        return [first] + [v.rsplit(".", 1)[-1] for v in item.outs[1:]]

    def _allocate(self, scope: Scope, stmts: list) -> tuple[list, list]:
        """(forward lines as (code, comment, node), argument names)."""
        if scope.kind == "root":
            stmts = [s for s in stmts if not s.late] + [s for s in stmts if s.late]
        else:  # a class runs whole or not at all: the root decides
            for s in stmts:
                s.late = False
        variable = self.h.variable
        holder, var = {}, {}
        inputs = []
        for u in scope.ins:
            name = variable("x" if not inputs else u.rsplit(".", 1)[-1])
            while name in holder:
                name += "_"
            holder[name], var[u] = u, name
            inputs.append(name)
        last = {}
        for i, s in enumerate(stmts):
            for u in s.reads:
                last[u] = i
        returned = self.h.returned(scope)
        for u in returned:
            last[u] = len(stmts)
        out, opened = [], False
        for i, s in enumerate(stmts):
            indent = "    " if s.late else ""
            if s.late and not opened:
                out.append(("if self.training:", "", None))
                opened = True
            if s.note is not None:
                out += [(indent + line, "", None) for line in self.h.comment(s.note[0], 8)]
                continue
            ins = [var[u] for u in s.reads]
            targets = []
            for d, base in zip(s.defs, s.bases):
                base = variable(base)
                name, k = base, 1
                while name in targets or (name in holder and last.get(holder[name], -1) > i):
                    k += 1
                    name = f"{base}_{k}"
                targets.append(name)
            for d, name in zip(s.defs, targets):
                holder[name], var[d] = d, name
            out.append((f"{indent}{', '.join(targets)} = {s.make(ins)}", s.comment, s.node))
            if self.h.probe and s.node is not None:
                out.append((f"{indent}probe({self.h.literal(s.node)}, {targets[0]})", "", s.node))
        out += [(line, "", None) for line in self.h.returns(scope, var, opened)]
        return out, inputs


def _definition(scope: Scope) -> str:
    """The block's definition name, from its call label `bottleneck(64)`."""
    return scope.label.split("(", 1)[0] or scope.name


def _spec_name(value, spec: dict, args: dict) -> str | None:
    """The block parameter ``value`` comes from, if exactly one argument reading a
    parameter has that value."""
    found = {name for arg, name in spec.items() if args.get(arg) == value}
    return found.pop() if len(found) == 1 else None
