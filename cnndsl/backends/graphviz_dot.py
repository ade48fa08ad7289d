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
import os
import shutil
import signal
import subprocess

from ..ops.base import GLOBAL, fmt_shape
from ..units import si as _si
from .diagram import Diagram, DrawError, DrawOptions, Item, TooLarge

__all__ = ["DrawOptions", "DrawError", "DotMissing", "DotFailed", "DotTimeout", "TooLarge",
           "FORMATS", "SHOW", "format_for", "render", "to_dot", "notebook_svg"]

FORMATS = ("dot", "svg", "png", "pdf")
SHOW = ("rf", "params", "macs")

# Fill colours per op family (ColorBrewer Pastel1-like): what a layer does
# is visible before its label is read.
# Pale fills, one hue per family, none the yellow of blocks nor the red of errors.
FILL = {
    "input": "#eeeeee", "conv": "#cfe2f3", "pool": "#fce5cd", "norm": "#d9ead3",
    "activation": "#f3f3f3", "linear": "#e6d7ee", "merge": "#ffffff",
    "padding": "#e4ecc8", "channel": "#cfece7", "scale": "#f3d6e4",
}
GROUP_FILL = "#fff2cc"
SHORTCUT = "#3c78d8"
ERROR = "#cc0000"
ERROR_FILL = "#f4cccc"
FONT = "Helvetica"
# The diagram's own nodes: `@` is in no layer's id (dotted identifiers), so a layer
# named `output` or `error_1` stays a node of its own.
OUTPUT = "@output"
ERROR_BOX = "@error_{}"
LABEL_MAX = 240  # characters of one label line: a label is read, not searched
TIMEOUT = 60.0  # seconds `dot` may take by default (2,000 boxes take about one)
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
        self._emit(dot, self.d.tree())
        out = self.g.graph.get("output")
        if self.d.draws_output:
            dot.node(OUTPUT, "output", fillcolor=FILL["input"])
        self._edges(dot)
        if self.d.draws_output:
            boxed = self.d.items[self.d.item_of[out]].group is not None
            dot.edge(self.d.item_of[out], OUTPUT, weight="4",
                     **({} if boxed else {"label": fmt_shape(self.g.nodes[out]["shape"])}))
        for k, d in enumerate(self.d.unplaced, 1):
            self._error_box(dot, d, ERROR_BOX.format(k))
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


def _printable(text: str) -> str:
    """Spec text as a label shows it: cut to LABEL_MAX, and control, format and
    separator characters (ESC, NUL, a right-to-left override, U+2028) written as
    `\\x1b`, `\\u202e`, so none reaches dot, the svg or a terminal raw."""
    text = str(text)
    if len(text) > LABEL_MAX:
        text = text[: LABEL_MAX - 1] + "…"
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def _shown(text: str) -> str:
    """Spec text inside an HTML-like label: entities for `<>&"'`, and backslashes
    doubled, since dot expands `\\N` (the node's name), `\\G` and `\\\\` there too."""
    return html.escape(_printable(text)).replace("\\", "\\\\")


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


def format_for(path: str) -> str | None:
    """The output format a file name asks for (`net.svg` -> "svg"), or None."""
    suffix = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else ""
    suffix = "dot" if suffix == "gv" else suffix
    return suffix if suffix in FORMATS else None


class DotMissing(DrawError):
    """Graphviz's `dot` program is not installed."""


class DotTimeout(DrawError):
    """`dot` ran past its time limit (and was stopped)."""


class DotFailed(DrawError):
    """`dot` could not be run, or exited with an error."""


def render(source: str, fmt: str, *, timeout: float | None = TIMEOUT) -> bytes:
    """Run `dot` on ``source``; ``fmt`` is one of FORMATS ("dot" returns the source).

    `dot` gets ``timeout`` seconds (None: no limit); past it, it and anything
    it started are killed and :class:`DotTimeout` is raised.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "dot":
        return source.encode("utf-8")
    exe = shutil.which("dot")
    if exe is None:
        raise DotMissing("rendering needs Graphviz's `dot` program: install it with "
                         "`apt-get install graphviz` or `brew install graphviz`, "
                         "or write .dot source instead")
    try:
        # Its own process group, so that a timeout stops whatever `dot` started too.
        proc = subprocess.Popen([exe, f"-T{fmt}"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=os.name == "posix")
    except OSError as err:
        raise DotFailed(f"cannot run {exe}: {err.strerror}") from None
    try:
        out, err = proc.communicate(source.encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise DotTimeout(f"`dot` did not finish within {timeout:g} s: draw less with "
                         "--depth N (blocks collapsed), or write .dot source instead") from None
    except BaseException:  # Ctrl-C: leave no `dot` running
        _stop(proc)
        raise
    if proc.returncode != 0:
        lines = err.decode("utf-8", "replace").splitlines()
        first = next((x for x in lines if x.startswith("Error")), lines[0] if lines else "")
        raise DotFailed(f"`dot` failed (exit status {proc.returncode}): {_printable(first)}")
    return out


def _stop(proc) -> None:
    """Kill `dot` and its process group, reap it, close its pipes (never waits on them)."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except OSError:
        pass  # already gone
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        try:
            pipe.close()
        except OSError:
            pass


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
