"""A diagram of the layer graph as Graphviz dot source; svg/png/pdf through `dot`.

:mod:`.diagram` decides what is drawn (boxes, clusters, folded layers,
collapsed blocks, shortcuts, errors); this module writes it: stages,
block calls and named paths as clusters labelled with their names, each
layer as a box labelled by its op and padding (`conv 3x3/2, 64, p=1`; the
labels are :mod:`.dot_labels`), edges labelled with the shape flowing along
them, into and out of collapsed blocks too, shortcuts dashed, failing layers
red. Top to bottom, a cluster's title sits clear of the edges into it; left
to right, each stage is a row of its own, so a deep network wraps.

Same graph, byte-identical source: everything is emitted in spec order.
graphviz is imported lazily: `cnndsl check` never pays for it.

Spec text (block calls, error messages, file names) reaches dot only
inside HTML-like labels, escaped, with control and format characters
written out (`\\x1b`, `\\u202e`); node ids are the layers' dotted names
(identifiers) and the diagram's own nodes start with `@`, which no name
can, so the two never collide. :func:`render` runs `dot` with a time limit,
and :func:`notebook_svg` draws only what dot lays out at once.

>>> import cnndsl
>>> net = cnndsl.loads("network tiny\\ninput [1, 8, 8]\\nconv(4, k=3) relu")
>>> 'label="4x6x6"' in to_dot(net.graph)
True
"""

from __future__ import annotations

from ..ops.base import fmt_shape
from ..units import si as _si
from .diagram import OUTPUT, Diagram, DrawError, DrawOptions, Item, TooLarge
from .dot_labels import block_title, html_label, op_text, rf_text, shape_text
# Running `dot` lives in .dot_program; its names stay importable from here.
from .dot_program import (DPI_RANGE, FORMATS, LABEL_MAX, TIMEOUT, DotFailed,  # noqa: F401
                          DotMissing, DotTimeout, format_for, printable, render)

__all__ = ["DrawOptions", "DrawError", "DotMissing", "DotFailed", "DotTimeout", "TooLarge",
           "FORMATS", "DPI_RANGE", "SHOW", "format_for", "render", "to_dot", "notebook_svg"]

SHOW = ("rf", "params", "macs")

# Fill colours per op family (ColorBrewer Pastel1-like): what a layer does
# is visible before its label is read.
# Pale fills, one hue per family, none the yellow of blocks nor the red of errors.
FILL = {
    "input": "#eeeeee", "conv": "#cfe2f3", "pool": "#fce5cd", "norm": "#d9ead3",
    "activation": "#f3f3f3", "linear": "#e6d7ee", "merge": "#ffffff",
    "padding": "#e4ecc8", "channel": "#cfece7", "scale": "#f3d6e4", "resample": "#dde3f7",
}
GROUP_FILL = "#fff2cc"
SHORTCUT = "#3c78d8"
SKIP = "#8e7cc3"  # skips (U-Net's copy and crop): solid and thick, one level across
SIZE = "#999999"  # tensor arguments (`crop(to=x)`): dashed, the op reads only the size
ERROR = "#cc0000"
ERROR_FILL = "#f4cccc"
FONT = "Helvetica"
# The diagram's own nodes (OUTPUT, `@output.NAME` per declared output, errors): `@`
# is in no layer's id (dotted identifiers), so a layer named `output` or `error_1`
# stays a node of its own.
ERROR_BOX = "@error_{}"
NOTEBOOK_BOXES = 400  # a notebook draws what dot lays out in a fraction of a second...
NOTEBOOK_TIMEOUT = 5.0  # ...and gives up on dot after this, showing text only










class _Writer:
    """Writes a :class:`Diagram` as dot source."""

    def __init__(self, diagram: Diagram):
        self.d = diagram
        self.g = diagram.g
        self.o = diagram.options

    # ------------------------------------------------------------- labels
    def _extras(self, nodes, always=False) -> list[str]:
        """The --show line (rf, params, macs) of a box; block boxes always show totals."""
        g, out = self.g, []
        show = set(self.o.show) | ({"params", "macs"} if always else set())
        if "rf" in show:
            text = rf_text(g.nodes[nodes[-1]].get("rf"))
            if text:
                out.append(text)
        for key, name in (("params", "params"), ("macs", "MACs")):
            values = [g.nodes[v].get(key) for v in nodes]
            if key in show and all(x is not None for x in values) and sum(values):
                out.append(f"{_si(sum(values))} {name}")
        return [" · ".join(out)] if out else []

    def _label(self, item: Item, header: str = "") -> str:
        g = self.g
        if item.group is not None:
            kind, name, call = item.group
            title = block_title(name, call) if kind == "block" else name
            if item.count > 1:
                title += f" × {item.count}"
            lines = [f"{shape_text(self.d.in_shape(item))} → "
                     f"{shape_text(self.d.out_shape(item))}"]
            lines += self._extras(item.nodes, always=True) + self._errors(item)
            return html_label(title, lines, bold=True)
        head = g.nodes[item.nodes[0]]
        title = op_text(head)
        if item.nodes[0] == "input":
            title = f"input {shape_text(head['shape'])}"
        lines = []
        if len(item.nodes) > 1:
            lines.append(" · ".join(op_text(g.nodes[v]) for v in item.nodes[1:]))
        lines += self._extras(item.nodes) + self._errors(item)
        return html_label(title, lines, header=header)

    def _errors(self, item: Item) -> list[str]:
        """The errors of the layers in a box, once each."""
        out = []
        for v in item.nodes:
            for d in self.d.failing.get(v, ()):
                text = f"error[{d.code}]: {d.message}"
                if text not in out:
                    out.append(text)
        return out

    def _node_attrs(self, item: Item, header: str = "") -> dict:
        head = self.g.nodes[item.nodes[0]]
        attrs = {"label": self._label(item, header)}
        if item.group is not None:
            attrs.update(fillcolor=GROUP_FILL, peripheries="2" if item.count > 1 else "1")
        else:
            attrs["fillcolor"] = FILL.get(head["op"].family, "#ffffff")
            if head["op"].many_inputs:
                attrs["shape"] = "ellipse"
        if any(v in self.d.failing for v in item.nodes):
            attrs.update(color=ERROR, penwidth="2", fillcolor=ERROR_FILL)
        return attrs

    def _cluster_attrs(self, entry: tuple) -> dict:
        kind, name, label = entry
        if kind == "stage":
            return {"label": self._cluster_title(name, 12), "style": "rounded",
                    "color": "#666666", "fontsize": "12", "labeljust": "l", "margin": "6"}
        if kind == "block":
            return {"label": self._cluster_title(block_title(name, label), 11),
                    "style": "rounded,filled", "fillcolor": "#fbfbf3", "color": "#b7b7a4",
                    "fontsize": "11", "labeljust": "l", "margin": "6"}
        named = not (name.startswith("path_") and name[5:].isdigit())
        return {"label": self._cluster_title(name, 10) if named else "",
                "style": "dotted" if named else "invis", "color": "#999999", "fontsize": "10"}

    def _cluster_title(self, title: str, size: int) -> str:
        return html_label(title, [])

    def _title(self) -> str:
        g = self.g
        parts = [str(g.graph.get("name", ""))]
        out = g.graph.get("output")
        if g.graph.get("input") is not None:
            arrow = f"{fmt_shape(g.graph['input'])} → "
            arrow += shape_text(g.nodes[out]["shape"]) if out in g else "?"
            parts.append(arrow)
        if g.graph.get("params") is not None:
            parts.append(f"{_si(g.graph['params'])} params, {_si(g.graph['macs'])} MACs")
        return html_label("  ·  ".join(parts), [self.d.note])

    # --------------------------------------------------------------- emit
    def source(self) -> str:
        import graphviz  # noqa: PLC0415 (lazy: `cnndsl check` never imports it)

        dot = graphviz.Digraph(name=str(self.g.graph.get("name", "network")))
        dot.attr(rankdir=self.o.rankdir, fontname=FONT, label=self._title(), labelloc="t",
                 fontsize="16", nodesep="0.25", ranksep="0.2", newrank="true",
                 remincross="true")
        dot.attr("node", shape="box", style="rounded,filled", fontname=FONT, fontsize="11",
                 margin="0.12,0.04", height="0.3", penwidth="0.8")
        dot.attr("edge", fontname=FONT, fontsize="9", fontcolor="#555555",
                 arrowsize="0.6", color="#444444")
        if self.d.levels:
            dot.attr(ranksep="0.6")  # rows apart, so the U's levels read as steps
        self._emit(dot, self.d.tree())
        outputs = self.d.outputs()
        for o in outputs:
            dot.node(o.id, **self._output_attrs(o))
        self._edges(dot)
        for o in outputs:
            tail = self.d.item_of[o.node]
            boxed = self.d.items[tail].group is not None
            shown = o.name or boxed  # a declared output's box shows its shape
            self._edge(dot, tail, o.id, ports=False, weight="4",
                       **({} if shown else {"label": fmt_shape(self.g.nodes[o.node]["shape"])}))
        for k, d in enumerate(self.d.unplaced, 1):
            self._error_box(dot, d, ERROR_BOX.format(k))
        if self.d.levels:
            self._levels(dot, outputs)
        for heads in () if self.d.levels else self.d.path_heads:
            # Start the paths of a merge on one rank, so they read side by side.
            with dot.subgraph() as same:
                same.attr(rank="same")
                for h in heads:
                    same.node(h)
        return dot.source

    def _output_attrs(self, o) -> dict:
        if not o.name:
            return {"label": "output", "fillcolor": FILL["input"]}
        lines = [shape_text(self.g.nodes[o.node]["shape"])]
        attrs = {"fillcolor": FILL["input"]}
        if o.training:
            lines.append("training only")
            attrs["style"] = "rounded,filled,dashed"
        attrs["label"] = html_label(f"output {o.name}", lines)
        return attrs

    def _levels(self, dot, outputs):
        """One rank per level, so a skip's two ends and everything between the same
        skips sit side by side: a U-Net reads as a U."""
        rows: dict[int, list[str]] = {}
        for box, level in self.d.levels.items():
            rows.setdefault(level, []).append(box)
        for o in outputs:
            rows[self.d.levels[self.d.item_of[o.node]]].append(o.id)
        for level in sorted(rows):
            with dot.subgraph() as same:
                same.attr(rank="same")
                for box in rows[level]:
                    same.node(box)

    def _level(self, box) -> int:
        """The level of a box or output box (an output sits on its layer's)."""
        if box in self.d.levels:
            return self.d.levels[box]
        return next((self.d.levels[self.d.item_of[o.node]] for o in self.d.outputs()
                     if o.id == box), 0)

    def _edge(self, dot, tail, head, ports=True, **attrs):
        """An edge; one that climbs a level (a U's way back up) is written reversed
        (dir=back), so it points up and dot keeps the levels in order."""
        lr = self.o.rankdir != "TB"
        if self.d.levels and (self._level(head) < self._level(tail) or lr and not ports):
            # (with rankdir=LR, dot lays a level's column top down: an output box
            # without ports is written reversed to sit above its layer too)
            if "arrowhead" in attrs:  # drawn at the tail end now
                attrs = dict(attrs, arrowtail=attrs["arrowhead"])
                del attrs["arrowhead"]
            dot.edge(head, tail, dir="back", **attrs)
            return
        if ports and self.d.levels and self._level(head) == self._level(tail) \
                and attrs.get("constraint") != "false":
            # Along its level, out of one box's side into the next one's (without
            # ports, dot 2.43 draws a flat edge between clusters twice). With
            # rankdir=LR a level is a column, read upwards.
            ports = ("n", "s") if lr else ("e", "w")
            attrs = dict(attrs, tailport=ports[0], headport=ports[1])
        dot.edge(tail, head, **attrs)

    def _emit(self, dot, tree, prefix=""):
        for child in tree["children"]:
            if isinstance(child, Item):
                dot.node(child.id, **self._node_attrs(child))
                continue
            kind, local, call = child["entry"]
            only = child["children"][0] if len(child["children"]) == 1 else None
            if kind == "block" and isinstance(only, Item) and only.group is None:
                # A block that draws as one box (conv+bn+relu) is named in the box, not
                # boxed again.
                dot.node(only.id, **self._node_attrs(only, block_title(local, call)))
                continue
            name = f"{prefix}.{local}" if prefix else local
            if kind == "path" and self.d.levels:
                # A path boxed apart would pull its layers out of their level's row
                # (dot orders clusters before flat edges): drawn in place.
                self._emit(dot, child, name)
                continue
            with dot.subgraph(name=f"cluster_{name}") as sub:
                attrs = self._cluster_attrs(child["entry"])
                if self.o.rankdir == "TB" and not self.d.levels and attrs["label"]:
                    attrs.update(self._clear_title(child, attrs))
                sub.attr(**attrs)
                self._emit(sub, child, name)

    def _clear_title(self, tree, attrs) -> dict:
        """Top to bottom, an edge enters a cluster through its title's row, at the middle
        of its first box (and a shortcut down its right side). A title narrower than half
        that box stays top left, clear of both; a wider one goes right, after an empty
        cell as wide as half the box, so the edge passes left of the text."""
        widest = max(len(printable(self._op_title(b))) for b in _boxes(tree)) * 11 * 0.6
        title = attrs["label"][1:-1]
        if len(printable(title)) * float(attrs["fontsize"]) * 0.6 + 12 < widest / 2:
            return {"labeljust": "l", "labelloc": "t"}  # (set: a cluster's own inherit)
        label = (f'<<table border="0" cellborder="0" cellpadding="0" cellspacing="0"><tr>'
                 f'<td width="{round(widest / 2) + 28}"></td><td>{title}</td></tr></table>>')
        return {"label": label, "labeljust": "r", "labelloc": self._title_side(tree)}

    def _title_side(self, tree) -> str:
        """"t", or "b" for a cluster whose paths are entered side by side (Inception's)
        and left by one edge: that exit leaves the bottom row in the middle, clear of
        the title. (A residual block's shortcut enters at its merge: "t".)"""
        inside = {b.id for b in _boxes(tree)}
        into = {e.head for e in self.d.edges if e.head in inside and e.tail not in inside}
        out = {e.tail for e in self.d.edges if e.tail in inside and e.head not in inside}
        paths = all(not self.g.nodes[self.d.items[b].nodes[0]]["op"].many_inputs for b in into)
        return "b" if len(into) > 1 and paths and len(out) == 1 else "t"

    def _op_title(self, item: Item) -> str:
        """A box's title line, whose length sizes the box."""
        if item.group is not None:
            count = f" × {item.count}" if item.count > 1 else ""
            return block_title(item.group[1], item.group[2]) + count
        return op_text(self.g.nodes[item.nodes[0]])

    def _stage(self, box) -> tuple:
        """The outermost scope entry a box is drawn in (or is), as a 1-tuple; () for none."""
        item = self.d.items.get(box)
        if item is None:
            return ()
        return (item.cluster + ((item.group,) if item.group else ()))[:1]

    def _wraps(self, e) -> bool:
        """Left to right, each stage starts a row of its own (under the one before), as
        text wraps: the edges between stages do not set ranks, so a full ResNet is a
        stack of short rows, not one line thousands of pixels long."""
        if self.o.rankdir == "TB" or self.d.levels:
            return False
        tail, head = self._stage(e.tail), self._stage(e.head)
        return bool(tail and head) and tail != head and tail[0][0] == head[0][0] == "stage"

    def _edges(self, dot):
        labelled = set()
        for e in self.d.edges:
            # A tensor read by several boxes is labelled once, on its first edge,
            # into and out of a collapsed block's box too.
            attrs = {}
            if e.size_of:
                # Not data flow: the op takes only this tensor's size (`crop(to=x)`).
                self._edge(dot, e.tail, e.head, label=f"size ({e.size_of}=)", style="dashed",
                           color=SIZE, fontcolor=SIZE, arrowhead="onormal", constraint="false",
                           **{"class": "size"})
                continue
            if e.tail not in labelled:
                attrs["label"] = ", ".join(shape_text(s) for s in e.shapes)
            labelled.add(e.tail)
            if e.blamed:
                attrs.update(color=ERROR, fontcolor=ERROR, penwidth="1.5")
            elif e.shortcut:
                attrs.update(style="dashed", color=SHORTCUT, fontcolor=SHORTCUT, weight="1")
            elif e.skip:
                attrs.update(color=SKIP, fontcolor=SKIP, penwidth="2", weight="0",
                             **{"class": "skip"})
            else:
                attrs["weight"] = "4"  # keep the main line straight
            if self._wraps(e):
                attrs.update(constraint="false", weight="0")
            self._edge(dot, e.tail, e.head, **attrs)

    def _error_box(self, dot, d, box: str):
        """An error no layer stands for (a bad argument): a red box after the layers before it."""
        where = str(d.span) if d.span else ""
        dot.node(box, html_label(f"error[{d.code}]: {d.message}", [where]), color=ERROR,
                 fillcolor=ERROR_FILL, penwidth="2")
        anchor = self.d.error_anchor(d)
        if anchor is not None:
            dot.edge(anchor, box, style="dashed", color=ERROR)


def _boxes(tree):
    """The boxes of a cluster, nested ones too."""
    for c in tree["children"]:
        yield from [c] if isinstance(c, Item) else _boxes(c)








def to_dot(graph, options: DrawOptions | None = None, diagnostics=()) -> str:
    """The dot source of a layer graph (deterministic: same graph, same bytes).

    ``diagnostics`` marks the layers that failed, for a partially built graph.
    Beyond ``options.max_boxes`` blocks collapse (the title says so), or
    :class:`TooLarge` is raised.
    """
    return _Writer(Diagram(graph, options, diagnostics)).source()


def notebook_svg(graph, *, max_boxes: int = NOTEBOOK_BOXES,
                 timeout: float = NOTEBOOK_TIMEOUT) -> str | None:
    """The svg a notebook shows for a graph, or None where it would not come quickly.

    Blocks collapse to fit ``max_boxes``; None when even that is too large, when
    `dot` is missing or fails, or after ``timeout`` seconds: the caller then shows
    text only, so displaying a network never blocks a notebook for long.
    """
    try:
        source = to_dot(graph, DrawOptions(max_boxes=max_boxes))
        return render(source, "svg", timeout=timeout).decode("utf-8")
    except DrawError:
        return None
