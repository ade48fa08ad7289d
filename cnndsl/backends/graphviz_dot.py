"""A diagram of the layer graph as Graphviz dot source; svg/png/pdf through `dot`.

:mod:`.diagram` decides what is drawn (boxes, clusters, folded layers,
collapsed blocks, shortcuts, errors); this module writes it: stages,
block calls and named paths as clusters labelled with their names, each
layer as a box labelled by its op (`conv 3x3/2, 64`), edges labelled with
the shape flowing along them, shortcuts dashed, failing layers red.

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

import html

from ..ops.base import GLOBAL, fmt_shape
from ..units import si as _si
from .diagram import OUTPUT, Diagram, DrawError, DrawOptions, Item, TooLarge
# Running `dot` lives in .dot_program; its names stay importable from here.
from .dot_program import (FORMATS, LABEL_MAX, TIMEOUT, DotFailed, DotMissing,  # noqa: F401
                          DotTimeout, format_for, printable, render)

__all__ = ["DrawOptions", "DrawError", "DotMissing", "DotFailed", "DotTimeout", "TooLarge",
           "FORMATS", "SHOW", "format_for", "render", "to_dot", "notebook_svg"]

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


def _rf_text(rf) -> str:
    """The rf pass's value for a node (a ReceptiveField, or "global")."""
    if rf is None:
        return ""
    if rf == GLOBAL:
        return "rf global"
    size = getattr(rf, "size", rf)
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return f"rf {size[0]}" if size[0] == size[1] else f"rf {size[0]}x{size[1]}"
    return f"rf {size}"


def _shape_text(shape) -> str:
    return "?" if shape is None else fmt_shape(shape)


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
            text = _rf_text(g.nodes[nodes[-1]].get("rf"))
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
            title = _block_title(name, call) if kind == "block" else name
            if item.count > 1:
                title += f" × {item.count}"
            lines = [f"{_shape_text(self.d.in_shape(item))} → "
                     f"{_shape_text(self.d.out_shape(item))}"]
            lines += self._extras(item.nodes, always=True) + self._errors(item)
            return _html(title, lines, bold=True)
        head = g.nodes[item.nodes[0]]
        title = head["op"].label(head["args"])
        if item.nodes[0] == "input":
            title = f"input {_shape_text(head['shape'])}"
        lines = []
        if len(item.nodes) > 1:
            lines.append(" · ".join(g.nodes[v]["op"].label(g.nodes[v]["args"])
                                    for v in item.nodes[1:]))
        lines += self._extras(item.nodes) + self._errors(item)
        return _html(title, lines, header=header)

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

    @staticmethod
    def _cluster_attrs(entry: tuple) -> dict:
        kind, name, label = entry
        if kind == "stage":
            return {"label": _html(name, []), "style": "rounded", "color": "#666666",
                    "fontsize": "12", "labeljust": "l", "margin": "6"}
        if kind == "block":
            return {"label": _html(_block_title(name, label), []), "style": "rounded,filled",
                    "fillcolor": "#fbfbf3", "color": "#b7b7a4", "fontsize": "11",
                    "labeljust": "l", "margin": "6"}
        named = not (name.startswith("path_") and name[5:].isdigit())
        return {"label": _html(name, []) if named else "", "style": "dotted" if named else "invis",
                "color": "#999999", "fontsize": "10"}

    def _title(self) -> str:
        g = self.g
        parts = [str(g.graph.get("name", ""))]
        out = g.graph.get("output")
        if g.graph.get("input") is not None:
            arrow = f"{fmt_shape(g.graph['input'])} → "
            arrow += _shape_text(g.nodes[out]["shape"]) if out in g else "?"
            parts.append(arrow)
        if g.graph.get("params") is not None:
            parts.append(f"{_si(g.graph['params'])} params, {_si(g.graph['macs'])} MACs")
        return _html("  ·  ".join(parts), [self.d.note])

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
        lines = [_shape_text(self.g.nodes[o.node]["shape"])]
        attrs = {"fillcolor": FILL["input"]}
        if o.training:
            lines.append("training only")
            attrs["style"] = "rounded,filled,dashed"
        attrs["label"] = _html(f"output {o.name}", lines)
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
                dot.node(only.id, **self._node_attrs(only, _block_title(local, call)))
                continue
            name = f"{prefix}.{local}" if prefix else local
            if kind == "path" and self.d.levels:
                # A path boxed apart would pull its layers out of their level's row
                # (dot orders clusters before flat edges): drawn in place.
                self._emit(dot, child, name)
                continue
            with dot.subgraph(name=f"cluster_{name}") as sub:
                sub.attr(**self._cluster_attrs(child["entry"]))
                self._emit(sub, child, name)

    def _edges(self, dot):
        labelled = set()
        for e in self.d.edges:
            # A tensor read by several boxes is labelled once, on its first edge;
            # a block box already shows its in and out shapes.
            boxed = any(x in self.d.items and self.d.items[x].group is not None
                        for x in (e.tail, e.head))
            attrs = {}
            if e.size_of:
                # Not data flow: the op takes only this tensor's size (`crop(to=x)`).
                self._edge(dot, e.tail, e.head, label=f"size ({e.size_of}=)", style="dashed",
                           color=SIZE, fontcolor=SIZE, arrowhead="onormal", constraint="false",
                           **{"class": "size"})
                continue
            if e.tail not in labelled and not boxed:
                attrs["label"] = ", ".join(_shape_text(s) for s in e.shapes)
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
            self._edge(dot, e.tail, e.head, **attrs)

    def _error_box(self, dot, d, box: str):
        """An error no layer stands for (a bad argument): a red box after the layers before it."""
        where = str(d.span) if d.span else ""
        dot.node(box, _html(f"error[{d.code}]: {d.message}", [where]), color=ERROR,
                 fillcolor=ERROR_FILL, penwidth="2")
        anchor = self.d.error_anchor(d)
        if anchor is not None:
            dot.edge(anchor, box, style="dashed", color=ERROR)


def _block_title(name: str, call: str) -> str:
    """`inception(64, ...)`, or `inception3a: inception(64, ...)` when the spec named the call."""
    call = call.removesuffix(f" as {name}")
    base, _, number = name.rpartition("_")
    auto = number.isdigit() and call.startswith(base + "(") or call == base
    return call if auto else f"{name}: {call}"


def _shown(text: str) -> str:
    """Spec text inside an HTML-like label: entities for `<>&"'`, and backslashes
    doubled, since dot expands `\\N` (the node's name), `\\G` and `\\\\` there too."""
    return html.escape(printable(text)).replace("\\", "\\\\")


def _html(title: str, lines: list[str], bold: bool = False, header: str = "") -> str:
    """A Graphviz HTML-like label: an optional small header, the title, then smaller grey lines."""
    head = _shown(title)
    if bold:
        head = f"<b>{head}</b>"
    if header:
        head = f'<font point-size="9" color="#333333"><i>{_shown(header)}</i></font><br/>{head}'
    body = "".join(f'<br/><font point-size="9" color="#555555">{_shown(x)}</font>'
                   for x in lines if x)
    return f"<{head}{body}>"


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
