"""Traced layers into nested statements: module calls, paths and merges.

Each module call that takes one tensor and gives one becomes a
:class:`Call` (a block call, or at the top level a stage); inside a call,
the data flow becomes a sequence in which every merge (add, concat, mul)
holds one path per input, each path starting at the merge's fork: the
nearest layer every input depends on. A flow that is not such nesting is
refused. Concatenations of a growing list (DenseNet) are first rewritten
as binary ones, each kept with the call whose input and output it joins.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from ..parser import merge_kinds

from .leaves import Unsupported
from .trace import CONTAINERS, Node, Traced

MERGES = merge_kinds()  # the registry's merges


@dataclass
class Layer:
    node: Node


@dataclass
class Merge:
    kind: str
    paths: list
    in_shape: tuple
    shape: tuple


@dataclass
class Call:
    key: str
    qualname: str
    cls: str
    body: list
    in_shape: tuple
    shape: tuple
    start: int = 0
    end: int = 0
    container: bool = False


def statements(traced: Traced) -> list:
    nodes = _binary_concats(traced)
    _hoist_concats(nodes)
    shapes = {0: traced.input_shape, **{n.id: n.shape for n in nodes}}
    return _Scope((), nodes, 0, traced.output, shapes).build()


# ------------------------------------------------------------ concatenations


def _binary_concats(traced: Traced) -> list:
    """cat(a, b, c) as cat(cat(a, b), c) where cat(a, b) was made before (DenseNet)."""
    out, made, subst = [], {}, {}
    for node in traced.nodes:
        node.ins = [subst.get(i, i) for i in node.ins]
        if node.op == "concat":
            ins = tuple(node.ins)
            if ins in made:
                subst[node.id] = made[ins]
                continue
            for cut in range(len(ins) - 1, 1, -1):
                if ins[:cut] in made:
                    node.ins = [made[ins[:cut]], *ins[cut:]]
                    break
            made[ins] = node.id
        out.append(node)
    if traced.output in subst:
        traced.output = subst[traced.output]
    return out


def _hoist_concats(nodes: list) -> None:
    """Move cat(x, f(x)) into the call that computes f from x (a DenseNet layer)."""
    producer = {n.id: n for n in nodes}
    for m in nodes:
        if m.op != "concat" or len(m.ins) != 2 or m.ins[1] not in producer:
            continue
        a, b = m.ins
        inner = producer[b].scope
        common = 0
        while common < min(len(m.scope), len(inner)) and m.scope[common] == inner[common]:
            common += 1
        if len(inner) <= common:
            continue
        call = inner[: common + 1]
        members = [n for n in nodes if n.scope[: common + 1] == call]
        inside = {n.id for n in members}
        external = {i for n in members for i in n.ins if i not in inside}
        if external == {a}:
            m.scope = call


# ------------------------------------------------------------------ scopes


class _Scope:
    def __init__(self, prefix: tuple, nodes: list, start: int, end: int, shapes: dict):
        self.prefix, self.nodes, self.start, self.end = prefix, nodes, start, end
        self.shapes = shapes

    def build(self) -> list:
        items = self._items(self.prefix, self.nodes)
        self.producer = {}
        for item in items:
            self.producer[_out(item)] = item
        graph = nx.DiGraph()
        graph.add_node(self.start)
        for item in items:
            for i in _ins(item):
                graph.add_edge(i, _out(item))
        if self.end not in graph:
            graph.add_node(self.end)
        self.idom = nx.immediate_dominators(graph, self.start)
        self.emitted = set()
        body = self._seq(self.start, self.end)
        unused = [item for item in items if id(item) not in self.emitted]
        if unused:
            raise Unsupported(f"{_where(unused[0])}: computes a result the network never uses")
        return body

    def _items(self, prefix: tuple, nodes: list) -> list:
        depth = len(prefix)
        items, groups = [], {}
        for n in nodes:
            if len(n.scope) == depth:
                items.append(n)
            else:
                key = n.scope[depth]
                if key not in groups:
                    groups[key] = []
                    items.append(key)
                groups[key].append(n)
        out = []
        for item in items:
            if isinstance(item, Node):
                out.append(item)
                continue
            members = groups[item]
            ids = {n.id for n in members}
            ins = {i for n in members for i in n.ins if i not in ids}
            used = {i for n in self.nodes if n.id not in ids for i in n.ins if i in ids}
            if self.end in ids:
                used.add(self.end)
            if len(ins) == 1 and len(used) == 1:
                (start,), (end,) = ins, used
                scope = _Scope(prefix + (item,), members, start, end, self.shapes)
                key, qualname, cls = item
                out.append(Call(key, qualname, cls, scope.build(), self.shapes[start],
                                self.shapes[end], start, end, container=cls in CONTAINERS))
            else:  # not one tensor in and one out: its layers join this scope
                out.extend(self._items(prefix + (item,), members))
        return out

    def _seq(self, start: int, end: int) -> list:
        if end == start:
            return []
        item = self.producer.get(end)
        if item is None:
            raise Unsupported(f"a path reads a tensor from outside its branch (`{end}`): the "
                              f"data flow is not nested paths")
        if id(item) in self.emitted:
            raise Unsupported(f"{_where(item)}: its output feeds two branches that do not "
                              f"merge in nested paths")
        self.emitted.add(id(item))
        ins = _ins(item)
        if isinstance(item, Node) and item.op in MERGES:
            fork = self._fork(ins)
            before = self._seq(start, fork)
            paths = [self._seq(fork, i) for i in ins]
            return before + [Merge(item.op, paths, self.shapes[fork], item.shape)]
        before = self._seq(start, ins[0])
        return before + [item if isinstance(item, Call) else Layer(item)]

    def _fork(self, values) -> int:
        chains = []
        for v in values:
            chain = [v]
            while chain[-1] != self.start:
                chain.append(self.idom[chain[-1]])
            chains.append(chain)
        common = set(chains[0]).intersection(*chains[1:])
        return next(v for v in chains[0] if v in common)


def _ins(item) -> list:
    return item.ins if isinstance(item, Node) else [item.start]


def _out(item) -> int:
    return item.id if isinstance(item, Node) else item.end


def _where(item) -> str:
    return item.where if isinstance(item, Node) else f"`{item.qualname}` ({item.cls})"
