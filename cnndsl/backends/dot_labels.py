"""Box and cluster labels of a diagram, as Graphviz HTML-like labels.

What a box says: a layer's op with its padding (`conv 3x3, 64, p=1`: how
much a path shrinks is read off it), a block call's title, shapes and the
receptive field. Spec text reaches dot only escaped (:func:`shown`), with
control and format characters written out.
"""

from __future__ import annotations

import html

from ..ops.base import GLOBAL, fmt_shape
from .dot_program import printable


def rf_text(rf) -> str:
    """The rf pass's value for a node (a ReceptiveField, or "global")."""
    if rf is None:
        return ""
    if rf == GLOBAL:
        return "rf global"
    size = getattr(rf, "size", rf)
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return f"rf {size[0]}" if size[0] == size[1] else f"rf {size[0]}x{size[1]}"
    return f"rf {size}"


def shape_text(shape) -> str:
    return "?" if shape is None else fmt_shape(shape)


def padding_text(op, args) -> str:
    """`p=1`, `p=(1, 2)`, `p=same` or `p=((0, 1), (0, 1))`, as a spec writes it, for a
    layer that pads its input; "" for one that does not, or whose label says so (`pad`)."""
    try:
        w = op.window(args)
    except NotImplementedError:
        return ""
    if w == GLOBAL or w is None or op.family == "padding":
        return ""
    if w.same:
        return "p=same"
    if w.end != w.p:
        return f"p={tuple(zip(w.p, w.end))}"
    if w.p == (0, 0):
        return ""
    return f"p={w.p[0]}" if w.p[0] == w.p[1] else f"p={tuple(w.p)}"


def op_text(data) -> str:
    """A layer's op as a box names it: `conv 3x3, 64, p=1` (padding shown, since it
    decides how much a path shrinks)."""
    label, pad = data["op"].label(data["args"]), padding_text(data["op"], data["args"])
    return f"{label}, {pad}" if pad else label


def block_title(name: str, call: str) -> str:
    """`inception(64, ...)`, or `inception3a: inception(64, ...)` when the spec named the call."""
    call = call.removesuffix(f" as {name}")
    base, _, number = name.rpartition("_")
    auto = number.isdigit() and call.startswith(base + "(") or call == base
    return call if auto else f"{name}: {call}"


def shown(text: str) -> str:
    """Spec text inside an HTML-like label: entities for `<>&"'`, and backslashes
    doubled, since dot expands `\\N` (the node's name), `\\G` and `\\\\` there too."""
    return html.escape(printable(text)).replace("\\", "\\\\")


def html_label(title: str, lines: list[str], bold: bool = False, header: str = "") -> str:
    """A Graphviz HTML-like label: an optional small header, the title, then smaller grey lines."""
    head = shown(title)
    if bold:
        head = f"<b>{head}</b>"
    if header:
        head = f'<font point-size="9" color="#333333"><i>{shown(header)}</i></font><br/>{head}'
    body = "".join(f'<br/><font point-size="9" color="#555555">{shown(x)}</font>'
                   for x in lines if x)
    return f"<{head}{body}>"
