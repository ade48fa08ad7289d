"""The scopes of a graph as a tree, and the form each takes in generated code.

Every stage, block call and path of the spec is a submodule of the compiled
network (its attribute path is its scope id, so ``state_dict`` keys follow
the spec). How its code reads depends on its dataflow:

- ``chain``: a stage or path whose layers and sub-scopes each read the one
  before (one tensor in, one out) is a ``Stage`` / ``Path``, an
  ``nn.Sequential`` with named children, as torchvision writes ``layer1``;
- ``class``: any other block call, stage or path is an instance of a class
  with its own ``forward`` taking the tensors it reads from outside and
  returning those read outside it (one class per structure: see
  :mod:`cnndsl.backends.codegen_classes`);
- ``inline``: a scope holding both layers that run only in training (an
  auxiliary head) and layers that always run, or any scope of a probed
  module, is a plain container whose layers the enclosing ``forward`` calls
  itself, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHAIN, CLASS, INLINE = "chain", "class", "inline"


@dataclass(eq=False)
class Scope:
    """A stage, block call or path (or the whole network: kind "root", id "")."""

    id: str
    kind: str
    name: str
    label: str
    parent: "Scope | None" = None
    items: list = field(default_factory=list)  # Scope or layer node id, in spec order
    nodes: list = field(default_factory=list)  # every layer under it, in spec order
    ins: list = field(default_factory=list)  # nodes outside it that it reads, first read first
    outs: list = field(default_factory=list)  # its nodes read outside it or returned
    form: str = CLASS
    chainable: bool = False  # a block whose layers run one after another


def inputs_of(graph, v: str, dropped: dict) -> list[str]:
    """The nodes whose values v reads, looking through dropped layers (folded batch norm)."""
    return [resolve(u, dropped) for u in graph.nodes[v]["inputs"]]


def resolve(u: str, dropped: dict) -> str:
    while u in dropped:
        u = dropped[u]
    return u


def build(graph, layers: list[str], dropped: dict, results: set, deferred: set,
          inline_all: bool, is_module, chain_blocks: frozenset = frozenset()) -> Scope:
    """The scope tree of the layers (dropped ones left out), each scope's form decided.

    ``results``: nodes the network returns; ``deferred``: layers that run only in
    training; ``inline_all``: every scope inline (the probed module); ``is_module(v)``:
    whether layer v is a submodule (not a bare parameter or a functional expression);
    ``chain_blocks``: the block calls to write as an nn.Sequential (where the calls of
    one block differ in structure, as DenseNet's dense blocks in their length).
    """
    root = Scope("", "root", "", "")
    index = {"": root}
    contiguous = True
    for v in layers:
        if v in dropped:
            continue
        cur = root
        segments = v.split(".")
        for depth, (kind, name, label) in enumerate(graph.nodes[v]["scope"]):
            sid = ".".join(segments[: depth + 1])
            child = index.get(sid)
            if child is None:
                child = index[sid] = Scope(sid, kind, name, label, cur)
                cur.items.append(child)
            elif cur.items[-1] is not child:  # a scope's layers are not one run
                contiguous = False
            cur = child
        cur.items.append(v)
        for scope in _chain(cur):
            scope.nodes.append(v)
    where = {v: scope for scope in index.values() for v in scope.items if isinstance(v, str)}
    _flows(graph, root, index, where, dropped, results)
    _forms(root, deferred, inline_all or not contiguous, graph, dropped, is_module, chain_blocks)
    return root


def _chain(scope: Scope):
    while scope is not None:
        yield scope
        scope = scope.parent


def _flows(graph, root, index, where, dropped, results) -> None:
    """Each scope's ins and outs."""
    ins: dict[str, dict] = {sid: {} for sid in index}
    outs: dict[str, set] = {sid: set() for sid in index}
    for v, scope in where.items():
        for u in inputs_of(graph, v, dropped):
            inside_u = {s.id for s in _chain(where[u])} if u in where else set()
            for s in _chain(scope):
                if s.id in inside_u:
                    break
                ins[s.id].setdefault(u, None)
            if u in where:
                inside_v = {s.id for s in _chain(scope)}
                for s in _chain(where[u]):
                    if s.id in inside_v:
                        break
                    outs[s.id].add(u)
    for u in results:
        if u in where:
            for s in _chain(where[u]):
                outs[s.id].add(u)
    order = {v: i for i, v in enumerate(graph.nodes)}
    for sid, scope in index.items():
        scope.ins = list(ins[sid])
        scope.outs = sorted(outs[sid], key=order.__getitem__)
        if len(scope.outs) > 1:  # the main flow (its last tensor) first, as `x`
            scope.outs.insert(0, scope.outs.pop())
    root.ins = ["input"]


def _forms(scope: Scope, deferred: set, inline_all: bool, graph, dropped, is_module,
           chain_blocks) -> None:
    for item in scope.items:
        if isinstance(item, Scope):
            _forms(item, deferred, inline_all, graph, dropped, is_module, chain_blocks)
    if scope.kind == "root":
        scope.form = CLASS
        return
    late = {v in deferred for v in scope.nodes}
    if inline_all or len(late) > 1 or not scope.ins or not scope.outs:
        scope.form = INLINE
        return
    chain = _is_chain(scope, graph, dropped, is_module)
    scope.chainable = scope.kind == "block" and chain
    if chain and (scope.kind in ("stage", "path") or scope.id in chain_blocks):
        scope.form = CHAIN
    else:
        scope.form = CLASS


def _is_chain(scope: Scope, graph, dropped, is_module) -> bool:
    """One tensor in, each item reading only the one before, one tensor out: the last's."""
    if len(scope.ins) != 1 or len(scope.outs) != 1:
        return False
    prev = scope.ins[0]
    for item in scope.items:
        if isinstance(item, Scope):
            if item.form == INLINE or item.ins != [prev] or len(item.outs) != 1:
                return False
            prev = item.outs[0]
        else:
            if not is_module(item) or inputs_of(graph, item, dropped) != [prev]:
                return False
            prev = item
    return scope.outs == [prev]
