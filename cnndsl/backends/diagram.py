"""What a diagram of the layer graph shows: boxes, clusters and edges.

Independent of Graphviz (:mod:`.graphviz_dot` writes the result as dot):

- a layer that only transforms its producer's output element-wise (relu,
  batch norm, dropout: a pointwise window, no MACs, same shape, sole
  consumer) is folded into the producer's box, as papers draw
  `conv 3x3, 64 + relu`;
- ``depth`` collapses everything nested deeper than it into one box per
  stage, block or path, and runs of identical consecutive blocks into one
  box counted `x N`;
- residual shortcuts, skips (`path { from x ... }`, U-Net's copy and crop)
  and tensor arguments (`crop(to=x)`, read for their size only) are told
  apart from the graph (:mod:`.links`); where something is skipped, each
  box gets a ``level``, how many skips span it, so a renderer can put a
  skip's two ends side by side and a U-Net reads as a U;
- every declared output (`output NAME`) is a box of its own;
- for a partially built graph (a spec with errors), the first failing
  layer of each error is marked and the layers it poisoned are left out;
- ``max_boxes`` bounds what a renderer is handed (dot's layout time grows
  faster than the box count: 200 four-path blocks take 0.8 s, 800 take
  36 s): beyond it the diagram collapses to the deepest depth that fits,
  and ``note`` says so; if even depth 0 does not fit, :class:`TooLarge`.

Everything is computed in spec order, so the same graph always gives the
same diagram.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ops.base import POINTWISE
from .links import Links, levels

# The diagram's own nodes start with `@`, which no layer's id (dotted identifiers)
# has, so a layer named `output` stays a box of its own.
OUTPUT = "@output"


@dataclass(frozen=True)
class DrawOptions:
    """What the diagram shows.

    depth: scope levels drawn open (stages, blocks, paths); deeper ones
    collapse into one box per block. None draws everything.
    rankdir: "TB" (top to bottom) or "LR".
    show: any of "rf", "params", "macs", added to every layer's box.
    fold: fold element-wise layers into their producer's box.
    max_boxes: the most boxes drawn; a larger diagram is collapsed
    further, or refused with :class:`TooLarge`. None: no limit.
    """

    depth: int | None = None
    rankdir: str = "TB"
    show: tuple[str, ...] = ()
    fold: bool = True
    max_boxes: int | None = 2000  # dot lays out 2,000 boxes in about a second


class DrawError(Exception):
    """A diagram that cannot be drawn (too large, or its renderer failed)."""


class TooLarge(DrawError):
    """The diagram has more boxes than ``max_boxes`` even with every block collapsed."""


@dataclass
class Item:
    """One box: a layer (with folded followers) or a collapsed stage, block or path."""

    id: str
    cluster: tuple  # the scope entries ((kind, name, label), ...) it is drawn inside
    nodes: list = field(default_factory=list)
    group: tuple | None = None  # the collapsed scope entry, for block boxes
    count: int = 1  # identical consecutive blocks drawn as this one


@dataclass
class Edge:
    """An arrow between two boxes, standing for one or more graph edges."""

    tail: str
    head: str
    shapes: list  # the shapes of the tensors it carries, in order, no repeats
    shortcut: bool = True  # every graph edge it stands for is on a residual shortcut
    blamed: bool = False  # it carries the input an error points at
    skip: bool = False  # it stands for a skip (a path from an earlier tensor)
    size_of: str = ""  # a tensor argument: its name (`to`); the op reads only the size


@dataclass(frozen=True)
class Output:
    """An output box: a declared output (``name``; ``training`` for aux heads), or the
    network's one undeclared output (``name`` empty)."""

    id: str
    name: str
    node: str
    training: bool = False


def within(inner, outer) -> bool:
    """Whether span ``inner`` lies inside span ``outer``."""
    return inner.file == outer.file and (outer.line, outer.column) <= (inner.line, inner.column) \
        and (inner.end_line, inner.end_column) <= (outer.end_line, outer.end_column)


def _foldable(data, ins) -> bool:
    """An element-wise op without multiply-adds (relu, bn, dropout; not a 1x1 conv)."""
    op, args = data["op"], data["args"]
    try:
        return op.window(args) == POINTWISE and op.macs(args, ins, data["shape"]) == 0
    except NotImplementedError:
        return False


class Diagram:
    """The boxes (``items``, in spec order), ``edges`` and ``path_heads`` of a graph."""

    def __init__(self, graph, options: DrawOptions | None = None, diagnostics=()):
        self.g = graph
        self.options = options or DrawOptions()
        self.diagnostics = [d for d in diagnostics if d.severity == "error"]
        self.items: dict[str, Item] = {}
        self.item_of: dict[str, str] = {}
        links = Links(graph)
        self.paths = links.paths
        self.shortcut_edges, self.skip_edges, self.sizes = links.shortcuts, links.skips, links.sizes
        self.unplaced: list = []  # errors no layer stands for (a bad argument)
        self.failing = self._failing()
        # Drawn up to the errors: layers poisoned by an earlier failure are left out.
        self.hidden = {v for v, d in graph.nodes(data=True)
                       if d["shape"] is None and v not in self.failing}
        self.depth, self.note = self._fit()
        self.edges = self._edges()
        self.path_heads = self._path_heads()
        self.levels = levels(list(self.items), self.edges)

    # ------------------------------------------------------------ analysis
    def _scope_of(self, v) -> tuple:
        return tuple(self.g.nodes[v].get("scope", ()))

    def _failing(self) -> dict:
        """Node -> the errors that point into it, for the first poisoned layer of each.

        The layer whose span holds the error's span most tightly; a block's
        body is expanded once per call, so one error may mark several.
        """
        out: dict[str, list] = {}
        for d in self.diagnostics:
            best = None
            for v, data in self.g.nodes(data=True):
                s = data.get("span")
                if d.span is None or s is None or data["shape"] is not None:
                    continue
                if any(i is None or self.g.nodes[i]["shape"] is None for i in data["inputs"]):
                    continue  # poisoned by an earlier failure, not failing itself
                if within(d.span, s):
                    size = (s.end_line - s.line, s.end_column - s.column)
                    if best is None or size < best[0]:
                        best = (size, [v])
                    elif size == best[0]:
                        best[1].append(v)
            if best is None:
                self.unplaced.append(d)
            for v in best[1] if best else ():
                out.setdefault(v, []).append(d)
        return out

    # -------------------------------------------------------------- items
    def _fit(self) -> tuple[int | None, str]:
        """Build the boxes at the requested depth, or the deepest shallower one within
        ``max_boxes``; return that depth and a note saying what was collapsed."""
        asked, limit = self.options.depth, self.options.max_boxes
        deepest = max((len(self._scope_of(v)) for v in self.g.nodes), default=0)
        start = deepest if asked is None or asked > deepest else asked
        first = None
        for depth in [asked, *range(start - 1, -1, -1)]:
            self.items, self.item_of = {}, {}
            self._build(depth)
            boxes = len(self.items) + len(self.unplaced) + len(self.outputs())
            if limit is None or boxes <= limit:
                if first is None:
                    return depth, ""
                where = "full depth" if asked is None else f"depth {asked}"
                return depth, (f"drawn at --depth {depth}: {first:,} boxes at {where} "
                               f"are over the limit of {limit:,}")
            first = boxes if first is None else first
        raise TooLarge(f"the diagram has {boxes:,} boxes even at --depth 0, over "
                       f"the limit of {limit:,}: group its layers into stages or blocks")

    def outputs(self) -> list[Output]:
        """The output boxes: one per declared output (`output NAME`), in declaration
        order, else one for the last tensor; none where an error stopped the graph."""
        declared = self.g.graph.get("outputs") or []
        boxes = [Output(f"{OUTPUT}.{name}", name, node, training)
                 for name, node, training in declared]
        if not declared:
            boxes = [Output(OUTPUT, "", self.g.graph.get("output"))]
        return [o for o in boxes
                if o.node in self.item_of and self.g.nodes[o.node]["shape"] is not None]

    def _build(self, depth: int | None):
        g = self.g
        for v in g.nodes:
            if v in self.hidden:
                continue
            scope = self._scope_of(v)
            if depth is not None and len(scope) > depth:
                entry = scope[: depth + 1]
                key = ".".join(s[1] for s in entry)
                item = self.items.setdefault(key, Item(key, entry[:-1], group=entry[-1]))
                item.nodes.append(v)
                self.item_of[v] = key
                continue
            host = self._fold_host(v)
            if host is not None:
                self.items[host].nodes.append(v)
                self.item_of[v] = host
            else:
                self.items[v] = Item(v, scope, [v])
                self.item_of[v] = v
        if depth is not None:
            self._merge_repeats()

    def _fold_host(self, v):
        """The item a layer folds into, or None."""
        if not self.options.fold or v in self.failing:
            return None
        g, data = self.g, self.g.nodes[v]
        ins = [i for i in data["inputs"] if i is not None]
        if len(ins) != 1 or len(data["inputs"]) != 1 or data["op"].many_inputs:
            return None
        u = ins[0]
        host = self.item_of.get(u)
        if host is None or u == "input" or self.items[host].group is not None:
            return None
        if g.out_degree(u) != 1 or self._scope_of(u) != self._scope_of(v) or u in self.failing:
            return None
        if data["shape"] is None or data["shape"] != g.nodes[u]["shape"]:
            return None
        return host if _foldable(data, [g.nodes[u]["shape"]]) else None

    def _signature(self, item: Item):
        g = self.g
        ops = tuple(g.nodes[v]["op"].label(g.nodes[v]["args"]) for v in item.nodes)
        return (item.cluster, item.group[2], ops, self.in_shape(item), self.out_shape(item))

    def _merge_repeats(self):
        """Fold runs of identical consecutive blocks into one box, counted."""
        groups = [it for it in self.items.values() if it.group is not None]
        # Of one block, before merging. Edges run forward, so a run's successors are
        # its last block's: checking those keeps this linear in the run's length.
        sig = {it.id: self._signature(it) for it in groups}
        own = {it.id: list(it.nodes) for it in groups}
        for prev, b in zip(groups, groups[1:]):
            a = self.items[self.item_of[prev.nodes[0]]]
            if sig[a.id] != sig[b.id]:
                continue
            if self._preds(own[b.id]) != {a.id} or self._succs(own[prev.id]) != {b.id}:
                continue
            a.nodes += b.nodes
            a.count += 1
            for v in b.nodes:
                self.item_of[v] = a.id
            del self.items[b.id]

    def _preds(self, nodes):
        own = set(nodes)
        return {self.item_of[u] for v in nodes for u in self.g.nodes[v]["inputs"]
                if u is not None and u not in own}

    def _succs(self, nodes):
        own = set(nodes)
        return {self.item_of[w] for v in nodes for w in self.g.successors(v)
                if w not in own and w not in self.hidden}

    def in_shape(self, item: Item):
        """The shape of the first tensor entering a box from outside."""
        own = set(item.nodes)
        for v in item.nodes:
            for u in self.g.nodes[v]["inputs"]:
                if u is not None and u not in own:
                    return self.g.nodes[u]["shape"]
        return None

    def out_shape(self, item: Item):
        return self.g.nodes[item.nodes[-1]]["shape"]

    # -------------------------------------------------------------- edges
    def _edges(self) -> list[Edge]:
        g, seen = self.g, {}
        for v in g.nodes:
            sizes = self.sizes.get(v, {})
            for k, u in enumerate(g.nodes[v]["inputs"]):
                if u is None or u in self.hidden or v in self.hidden:
                    continue
                a, b = self.item_of[u], self.item_of[v]
                if a == b:
                    continue
                size = sizes.get(k, "")
                edge = seen.setdefault((a, b, size), Edge(a, b, [], size_of=size))
                if g.nodes[u]["shape"] not in edge.shapes:
                    edge.shapes.append(g.nodes[u]["shape"])
                edge.shortcut &= not size and (u, v) in self.shortcut_edges
                edge.skip |= not size and (u, v) in self.skip_edges
                # The input an error blames (a merge's odd path) is marked.
                edge.blamed |= any(within(g.nodes[u]["span"], d.span)
                                   for d in self.failing.get(v, ())
                                   if d.span is not None and d.span != g.nodes[v]["span"])
        return list(seen.values())

    def _path_heads(self) -> list[list[str]]:
        """Per drawn merge: the first box of each path, to be put on one rank."""
        out = []
        for m, data in self.g.nodes(data=True):
            if not data["op"].many_inputs or self.item_of.get(m) != m:
                continue
            heads = []
            for path in self.paths(m):
                if path and path[0] in self.item_of and self.item_of[path[0]] not in heads:
                    heads.append(self.item_of[path[0]])
            if len(heads) > 1:
                out.append(heads)
        return out

    def error_anchor(self, d) -> str | None:
        """The box drawn last before an error no layer stands for, or None."""
        if d.span is None:
            return None
        before = [v for v, data in self.g.nodes(data=True) if v in self.item_of
                  and data["span"].file == d.span.file
                  and (data["span"].line, data["span"].column) < (d.span.line, d.span.column)]
        return self.item_of[before[-1]] if before else None

    def tree(self) -> dict:
        """Nested clusters: {"entry", "children"} with children boxes or clusters, in spec order."""
        root = {"entry": None, "children": [], "sub": {}}
        for item in self.items.values():
            node = root
            for entry in item.cluster:
                if entry[1] not in node["sub"]:
                    child = {"entry": entry, "children": [], "sub": {}}
                    node["sub"][entry[1]] = child
                    node["children"].append(child)
                node = node["sub"][entry[1]]
            node["children"].append(item)
        return root
