"""A diagram of the layer graph as Graphviz dot source; svg/png/pdf through `dot`.

:mod:`.diagram` decides what is drawn (boxes, clusters, folded layers,
collapsed blocks, shortcuts, errors); this module writes it: stages,
block calls and named paths as clusters labelled with their names, each
layer as a box labelled by its op (`conv 3x3/2, 64`), edges labelled with
the shape flowing along them, shortcuts dashed, failing layers red.

Same graph, byte-identical source: everything is emitted in spec order.
graphviz is imported lazily: `cnndsl check` never pays for it.

>>> import cnndsl
>>> net = cnndsl.loads("network tiny\\ninput [1, 8, 8]\\nconv(4, k=3) relu")
>>> 'label="4x6x6"' in to_dot(net.graph)
True
"""

from __future__ import annotations

import html

from ..ops.base import GLOBAL, fmt_shape
from ..units import si as _si
from .diagram import Diagram, DrawOptions, Item

__all__ = ["DrawOptions", "DotMissing", "FORMATS", "SHOW", "format_for", "render", "to_dot"]

FORMATS = ("dot", "svg", "png", "pdf")
SHOW = ("rf", "params", "macs")

# Fill colours per op family (ColorBrewer Pastel1-like): what a layer does
# is visible before its label is read.
FILL = {
    "input": "#eeeeee", "conv": "#cfe2f3", "pool": "#fce5cd", "norm": "#d9ead3",
    "activation": "#f3f3f3", "linear": "#e6d7ee", "merge": "#ffffff",
}
GROUP_FILL = "#fff2cc"
SHORTCUT = "#3c78d8"
ERROR = "#cc0000"
ERROR_FILL = "#f4cccc"
FONT = "Helvetica"


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
            return {"label": name, "style": "rounded", "color": "#666666", "fontsize": "12",
                    "labeljust": "l", "margin": "6"}
        if kind == "block":
            return {"label": _block_title(name, label), "style": "rounded,filled",
                    "fillcolor": "#fbfbf3", "color": "#b7b7a4", "fontsize": "11",
                    "labeljust": "l", "margin": "6"}
        named = not (name.startswith("path_") and name[5:].isdigit())
        return {"label": name if named else "", "style": "dotted" if named else "invis",
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
        return "  ·  ".join(parts)

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
        self._emit(dot, self.d.tree())
        out = self.g.graph.get("output")
        if out in self.d.item_of and self.g.nodes[out]["shape"] is not None:
            dot.node("output", "output", fillcolor=FILL["input"])
        self._edges(dot)
        if out in self.d.item_of and self.g.nodes[out]["shape"] is not None:
            boxed = self.d.items[self.d.item_of[out]].group is not None
            dot.edge(self.d.item_of[out], "output", weight="4",
                     **({} if boxed else {"label": fmt_shape(self.g.nodes[out]["shape"])}))
        for k, d in enumerate(self.d.unplaced, 1):
            self._error_box(dot, d, f"error_{k}")
        for heads in self.d.path_heads:
            # Start the paths of a merge on one rank, so they read side by side.
            with dot.subgraph() as same:
                same.attr(rank="same")
                for h in heads:
                    same.node(h)
        return dot.source

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
            if e.tail not in labelled and not boxed:
                attrs["label"] = ", ".join(_shape_text(s) for s in e.shapes)
            labelled.add(e.tail)
            if e.blamed:
                attrs.update(color=ERROR, fontcolor=ERROR, penwidth="1.5")
            elif e.shortcut:
                attrs.update(style="dashed", color=SHORTCUT, fontcolor=SHORTCUT, weight="1")
            else:
                attrs["weight"] = "4"  # keep the main line straight
            dot.edge(e.tail, e.head, **attrs)

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


def _html(title: str, lines: list[str], bold: bool = False, header: str = "") -> str:
    """A Graphviz HTML-like label: an optional small header, the title, then smaller grey lines."""
    head = html.escape(title)
    if bold:
        head = f"<b>{head}</b>"
    if header:
        head = f'<font point-size="9" color="#333333"><i>{html.escape(header)}</i></font><br/>{head}'
    body = "".join(f'<br/><font point-size="9" color="#555555">{html.escape(x)}</font>'
                   for x in lines if x)
    return f"<{head}{body}>"


def to_dot(graph, options: DrawOptions | None = None, diagnostics=()) -> str:
    """The dot source of a layer graph (deterministic: same graph, same bytes).

    ``diagnostics`` marks the layers that failed, for a partially built graph.
    """
    return _Writer(Diagram(graph, options, diagnostics)).source()


def format_for(path: str) -> str | None:
    """The output format a file name asks for (`net.svg` -> "svg"), or None."""
    suffix = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else ""
    suffix = "dot" if suffix == "gv" else suffix
    return suffix if suffix in FORMATS else None


class DotMissing(Exception):
    """Graphviz's `dot` program is not installed."""


def render(source: str, fmt: str) -> bytes:
    """Run `dot` on ``source``; ``fmt`` is one of FORMATS ("dot" returns the source)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "dot":
        return source.encode("utf-8")
    import graphviz  # noqa: PLC0415

    try:
        return graphviz.Source(source).pipe(format=fmt, engine="dot")
    except graphviz.ExecutableNotFound:
        raise DotMissing("rendering needs Graphviz's `dot` program: install it with "
                         "`apt-get install graphviz` or `brew install graphviz`, "
                         "or write .dot source instead") from None
