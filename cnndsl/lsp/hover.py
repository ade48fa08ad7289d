"""Hover text, from the checked graph: a layer's output shape, receptive field,
params and MACs; a block call's input and output shapes and totals; a block's
signature and doc comment; a layer name's documentation."""

from __future__ import annotations

from ..ops import NAMES
from ..ops.base import REQUIRED, fmt_shape
from ..units import si
from .index import contains

MAX_INSTANCES = 6  # instances of one statement listed (a layer in a block called 16 times)


def _rf(field) -> str:
    if field is None:
        return "?"
    if isinstance(field, str):
        return field  # "global": the whole input
    (h, w), (sh, sw) = field.size, field.stride
    size = f"{h}" if h == w else f"{h}x{w}"
    stride = f"{sh}" if sh == sw else f"{sh}x{sw}"
    return f"{size}/{stride} (size {h}x{w}, stride {sh}x{sw} in input pixels)"


def _shape(shape) -> str:
    return "?" if shape is None else fmt_shape(shape)


def layer_hover(graph, nodes: list[str]) -> str:
    """Markdown for the instances ``nodes`` of one statement."""
    first = graph.nodes[nodes[0]]
    op = first["op"].name
    out = [f"**{op}**" + (f" — {len(nodes)} instances" if len(nodes) > 1 else "")]
    for node in nodes[:MAX_INSTANCES]:
        d = graph.nodes[node]
        facts = [f"output **{_shape(d.get('shape'))}**"]
        if "rf" in d:
            facts.append(f"receptive field {_rf(d['rf'])}")
        if "params" in d:
            facts.append(f"params {d['params']:,}")
        if "macs" in d:
            facts.append(f"MACs {si(d['macs']) if d['macs'] else '0'}")
        out.append(f"- `{node}`: " + ", ".join(facts))
    if len(nodes) > MAX_INSTANCES:
        out.append(f"- ... and {len(nodes) - MAX_INSTANCES} more")
    return "\n".join(out)


def call_instances(graph, members: list[tuple[str, int]]) -> list[list[str]]:
    """The nodes of each instance of one block call, in spec order.

    ``members``: (node, i) for every node whose call chain holds this call at
    depth i (innermost first); the instance is the scope up to that block.
    """
    instances: dict[tuple, list[str]] = {}
    for node, depth in members:
        scope = graph.nodes[node]["scope"]
        blocks = [i for i, (kind, _, _) in enumerate(scope) if kind == "block"]
        if depth >= len(blocks):
            continue
        key = tuple(s[1] for s in scope[: blocks[-(depth + 1)] + 1])
        instances.setdefault(key, []).append(node)
    order = {node: i for i, node in enumerate(graph.nodes)}
    return [sorted(v, key=order.__getitem__) for v in instances.values()]


def call_hover(graph, instances: list[list[str]], block) -> str:
    """Markdown for a block call: per instance its input and output shapes and totals."""
    out = []
    for nodes in instances[:MAX_INSTANCES]:
        members = set(nodes)
        first = graph.nodes[nodes[0]]
        inputs = [i for i in first["inputs"] if i not in members and i in graph]
        shape_in = graph.nodes[inputs[0]]["shape"] if inputs else None
        last = graph.nodes[nodes[-1]]
        params = sum(graph.nodes[n].get("params", 0) for n in nodes)
        macs = sum(graph.nodes[n].get("macs", 0) for n in nodes)
        where = ".".join(s[1] for s in first["scope"][:_call_depth(first["scope"], nodes, graph)])
        out.append(f"- `{where}`: {_shape(shape_in)} → **{_shape(last.get('shape'))}**, "
                   f"{len(nodes)} layers, params {params:,}, MACs {si(macs) if macs else '0'}")
    if len(instances) > MAX_INSTANCES:
        out.append(f"- ... and {len(instances) - MAX_INSTANCES} more calls")
    calls = "\n".join(out)
    return calls if block is None else f"{block_hover(block)}\n\n{calls}"


def _call_depth(scope, nodes, graph) -> int:
    """How many scope levels the instance's nodes share (its own path)."""
    paths = [tuple(s[1] for s in graph.nodes[n]["scope"]) for n in nodes]
    depth = 0
    while all(len(p) > depth for p in paths) and len({p[depth] for p in paths}) == 1:
        depth += 1
    return depth


def block_hover(block) -> str:
    text = f"```cnn\n{block.signature()}\n```"
    return text + (f"\n\n{block.doc}" if block.doc else "")


def op_hover(name: str) -> str | None:
    """A layer's documentation: its arguments, defaults and shape rule."""
    op = NAMES.get(name)
    if op is None:
        return None
    args = []
    for a in op.args:
        shown = a.name if a.default is REQUIRED else f"{a.name}={_default(a.default)}"
        args.append(shown)
    head = f"```cnn\n{op.name}({', '.join(args)})\n```"
    parts = [head, op.doc]
    if op.shape_doc:
        parts.append(f"Shape: {op.shape_doc}.")
    return "\n\n".join(p for p in parts if p)


def _default(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def nodes_at(analysis, line: int, col: int) -> list[str]:
    """The graph nodes of the innermost statement at 0-based (line, col), in spec order."""
    candidates = []
    for start in range(line, max(line - 200, -1), -1):  # statements are rarely that long
        for span, node in analysis.nodes_by_line.get(start, ()):
            r = (span.line - 1, span.column - 1, span.end_line - 1, span.end_column - 1)
            if contains(r, line, col):
                candidates.append((r, node))
    if not candidates:
        return []
    best = min((r for r, _ in candidates), key=lambda r: (r[2] - r[0], r[3] - r[1]))
    return [node for r, node in candidates if r == best]
