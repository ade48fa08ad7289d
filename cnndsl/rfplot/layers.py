"""Which layers and units `cnndsl rf` draws: ``--layer`` names, the default
choice, and the unit of each layer whose field is drawn.

A field comes from :mod:`cnndsl.passes.receptive_field`: ``size``,
``stride``, ``padding`` and ``span(unit)``, the exact input pixels a unit
sees. A stride may be a fraction (through upsampling), so centres are
computed in exact or float arithmetic and shown exactly.
"""

from __future__ import annotations

import math

from ..diagnostics import CnnError, Diagnostic, suggest
from ..passes.receptive_field import WHOLE_INPUT

MAX_LAYERS = 8  # by default; one colour each (figures.COLOURS)
SEARCH = 8  # units either side of the estimate whose exact centres are compared


def _fmt(x) -> str:
    """A coordinate or size, exact: 212, -5, 3/2 (from a fractional stride)."""
    return str(int(x)) if x == int(x) else str(x)


def _pair(values) -> str:
    a, b = values
    return _fmt(a) if a == b else f"{_fmt(a)}x{_fmt(b)}"


def with_field(net) -> list[str]:
    """Layers (spec order) whose field is a window on the input, not the whole of it,
    and whose units lie on a grid (not flattened features, which keep their field)."""
    nodes = net.graph.nodes
    if len(net.input_shape) != 3:
        return []
    return [v for v in net.layers() if nodes[v]["rf"] != WHOLE_INPUT
            and nodes[v]["shape"] is not None and len(nodes[v]["shape"]) == 3]


def default_layers(net) -> list[str]:
    """The last layer of each stage that has a field. Where that gives fewer
    than two (one stage of blocks, as VGG's `features`), the last layer of
    each block inside it; failing that, the first layer of each distinct field."""
    nodes = net.graph.nodes
    layers = with_field(net)
    for depth in (1, 2):
        last = {}
        for v in layers:  # layers outside any scope that deep belong to no group
            scope = nodes[v]["scope"]
            if len(scope) >= depth:
                last[tuple(s[1] for s in scope[:depth])] = v
        if len(last) >= 2:
            return _at_most(list(last.values()))
    first = {}
    for v in layers:
        first.setdefault((nodes[v]["rf"].size, nodes[v]["rf"].stride), v)
    return _at_most(list(first.values()))


def _at_most(nodes: list[str], n: int = MAX_LAYERS) -> list[str]:
    """At most ``n`` of ``nodes``, evenly spread, the last one kept."""
    if len(nodes) <= n:
        return nodes
    return [nodes[round(i * (len(nodes) - 1) / (n - 1))] for i in range(n)]


def resolve(net, names) -> list[str]:
    """Layer ids for ``--layer`` names: a layer as `cnndsl check` names it
    (``features.vgg_block_5.conv_3``), or a stage, block or path (its last
    layer). CnnError (E0201) for a name that is none of these, or that sees
    the whole input."""
    if not names:
        return default_layers(net)
    nodes, layers = net.graph.nodes, net.layers()
    out, problems = [], []
    for name in names:
        inside = [v for v in layers if v == name or v.startswith(name + ".")]
        if not inside:
            problems.append(_unknown(net, name))
        elif nodes[inside[-1]]["rf"] == WHOLE_INPUT:
            problems.append(_whole(net, name, inside[-1]))
        elif inside[-1] not in out:
            out.append(inside[-1])
    if problems:
        raise CnnError(problems, net.sources)
    return out


def _unknown(net, name: str) -> Diagnostic:
    import difflib

    groups = {v.rsplit(".", i)[0] for v in with_field(net) for i in range(v.count(".") + 1)}
    close = difflib.get_close_matches(name, sorted(groups), n=4, cutoff=0.5)
    if close:
        note = f"the closest layers with a receptive field: {', '.join(close)}"
    else:
        tops = list(dict.fromkeys(v.split(".")[0] for v in with_field(net)))
        note = f"layers with a receptive field are in: {', '.join(tops[:8])}"
    return Diagnostic(
        "E0201", f"`--layer {name}`: network `{net.name}` has no layer `{name}`", None,
        notes=(note,) if groups else (),
        help=suggest(name, groups) or "name a layer as `cnndsl check` lists it "
                                      "(stage.block.layer), or a stage or block (its last layer)")


def _whole(net, name: str, node: str) -> Diagnostic:
    data = net.graph.nodes[node]
    which = f"`--layer {name}`" + ("" if name == node else f" (its last layer `{node}`)")
    return Diagnostic(
        "E0201", f"{which} sees the whole input: it has no receptive field to draw",
        data["span"], "every unit of this layer sees every input pixel",
        notes=("after a global pool, flatten or linear the field is the whole input",),
        help=f"choose a layer before it, such as `{with_field(net)[-1]}`"
        if with_field(net) else "")


def units(net, nodes: list[str], unit: tuple[int, int] | None = None) -> dict:
    """Node -> the output unit drawn for it. The last node's unit is ``unit``
    (default: the one whose field is centred nearest the input's centre); every
    other node's is the unit whose field is centred nearest that one's, so the
    boxes nest. ValueError for a unit outside the last node's output."""
    g = net.graph.nodes
    last = nodes[-1]
    if unit is None:
        target = tuple((n - 1) / 2 for n in net.input_shape[1:])
    else:
        size = g[last]["shape"][1:]
        if not all(0 <= u < n for u, n in zip(unit, size)):
            raise ValueError(f"unit {unit[0]},{unit[1]} is outside `{last}`, whose output is "
                             f"{size[0]}x{size[1]} (rows 0 to {size[0] - 1}, columns 0 to "
                             f"{size[1] - 1})")
        target = _centre(g[last]["rf"], unit)
    return {v: _nearest(g[v]["rf"], g[v]["shape"][1:], target) for v in nodes}


def _centre(rf, unit) -> tuple:
    return tuple((a + b) / 2 for a, b in rf.span(unit))


def _nearest(rf, size, target) -> tuple[int, int]:
    """The unit whose field is centred nearest ``target``: a guess from size,
    stride and padding, then exact centres from ``span`` around it (a field
    through upsampling repeats with a period, its centres not evenly spaced)."""
    out = []
    for axis in (0, 1):
        s, p, r = rf.stride[axis], rf.padding[axis], rf.size[axis]
        guess = math.ceil((target[axis] + p - (r - 1) / 2) / s - 0.5)
        best = None
        for u in range(guess - SEARCH, guess + SEARCH + 1):
            u = min(max(u, 0), size[axis] - 1)
            span = rf.span((u, u))[axis]
            # Ties go to the lower unit in every layer alike, so the boxes stay nested
            # (Python's round() sends them to the even one, up in one layer, down in the next).
            key = (abs((span[0] + span[1]) / 2 - target[axis]), u)
            best = key if best is None or key < best else best
        out.append(best[1])
    return tuple(out)
