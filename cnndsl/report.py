"""What `cnndsl check` prints: the per-layer table and the JSON document."""

from __future__ import annotations

from .ops.base import fmt_shape

WIDTH = 100


def _num(v: int) -> str:
    return f"{v:,}"


def _scopes(net):
    """Per scope prefix: its label and the totals of the layers inside it."""
    info = {}
    for node in net.layers():
        data = net.graph.nodes[node]
        for depth, (kind, name, label) in enumerate(data["scope"]):
            key = tuple(s[1] for s in data["scope"][: depth + 1])
            entry = info.setdefault(key, {"kind": kind, "label": label, "params": 0})
            entry["params"] += data["params"]
    return info


# Each column: header, width, alignment, and how to read it off a node's data.
COLUMNS = (
    ("output", 14, "<", lambda d: fmt_shape(d["shape"])),
    ("params", 13, ">", lambda d: _num(d["params"])),
)


def _row(name: str, op: str, cells: list[str], name_w: int, op_w: int) -> str:
    text = f"{name[:name_w]:<{name_w}} {op[:op_w]:<{op_w}}"
    for (header, width, align, _), cell in zip(COLUMNS, cells):
        text += f" {cell:{align}{width}}"
    return text.rstrip()


def table(net) -> str:
    g = net.graph
    fixed = sum(w + 1 for _, w, _, _ in COLUMNS)
    name_w = 34
    op_w = WIDTH - fixed - name_w - 1
    out = [f"network {net.name}   input {fmt_shape(net.input_shape)}   "
           f"output {fmt_shape(net.output_shape)}", ""]
    out.append(_row("layer", "op", [c[0] for c in COLUMNS], name_w, op_w))
    out.append("-" * WIDTH)
    scopes = _scopes(net)
    open_path: tuple = ()
    for node in net.layers():
        data = g.nodes[node]
        path = tuple(s[1] for s in data["scope"])
        common = 0
        while common < min(len(path), len(open_path)) and path[common] == open_path[common]:
            common += 1
        for depth in range(common, len(path)):
            info = scopes[path[: depth + 1]]
            label = info["label"] if info["kind"] != "path" else ""
            cells = [""] * len(COLUMNS)
            cells[[c[0] for c in COLUMNS].index("params")] = _num(info["params"])
            out.append(_row("  " * depth + path[depth], label, cells, name_w, op_w))
        open_path = path
        local = node.rsplit(".", 1)[-1]
        out.append(_row("  " * len(path) + local, data["op"].label(data["args"]),
                        [fn(data) for _, _, _, fn in COLUMNS], name_w, op_w))
    out.append("-" * WIDTH)
    trainable = g.graph["params"]
    out.append(f"total {_num(trainable)} params, {_num(g.graph['buffers'])} buffer elements, "
               f"{len(net.layers())} layers")
    return "\n".join(out)


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v


def to_json(net) -> dict:
    g = net.graph
    layers = []
    for node in net.layers():
        d = g.nodes[node]
        layers.append({
            "name": node,
            "op": d["op"].name,
            "label": d["op"].label(d["args"]),
            "args": {k: _jsonable(v) for k, v in d["args"].items()},
            "inputs": list(d["inputs"]),
            "shape": list(d["shape"]),
            "params": d["params"],
            "buffers": d["buffers"],
            "macs": d["macs"],
            "flops": d["flops"],
            "line": d["span"].line,
        })
    return {
        "network": net.name,
        "file": g.graph["file"],
        "settings": {k: _jsonable(v) for k, v in g.graph["settings"].items()},
        "input": list(net.input_shape),
        "output": list(net.output_shape),
        "params": g.graph["params"],
        "buffers": g.graph["buffers"],
        "macs": g.graph["macs"],
        "flops": g.graph["flops"],
        "layers": layers,
        "warnings": [w.to_json() for w in net.warnings],
    }
