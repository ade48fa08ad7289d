"""What `cnndsl check` prints: the per-layer table and the JSON document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache

from .diagnostics import visible
from .expressions import json_value
from .ops.base import fmt_shape
from .outputs import declared
from .units import si as _si

WIDTH = 100


def _num(v: int) -> str:
    return f"{v:,}"


def _rf(field) -> str:
    """`27/8` (size/stride), `27x19/8x4` if the axes differ, `global` for the whole input;
    a stride below one pixel (after upsampling) as an exact fraction: `6/(1/2)`."""
    if isinstance(field, str):
        return field
    height, width = field.axes
    if height is width:  # a square field keeps one axis for both: read it once
        return f"{height.size}/{_stride_text(height.stride)}"
    size, stride = field.size, field.stride
    if size[0] == size[1] and stride[0] == stride[1]:
        return f"{size[0]}/{_stride_text(stride[0])}"
    return f"{size[0]}x{size[1]}/{_stride_text(stride[0])}x{_stride_text(stride[1])}"


def _stride_text(stride) -> str:
    return str(stride) if isinstance(stride, int) else f"({stride})"


# The field shown last and its text: a layer that keeps its input's field (an
# activation, a norm) has the same object, shown again without working it out.
_last_rf = (None, "")


def _rf_cell(field) -> str:
    global _last_rf
    last = _last_rf  # one read: threads see a pair, never half of one
    if last[0] is not field:
        last = _last_rf = (field, _rf(field))
    return last[1]


def _scopes(net):
    """Per scope prefix: its label, the totals of the layers inside it and its output
    shape (that of its last layer in spec order)."""
    info = {}
    open_scope, entries = None, []
    for _, data in net.graph.nodes(data=True):
        scope = data["scope"]
        if not scope:  # the top level (and the input): in no scope
            continue
        if scope is not open_scope:  # (the layers of a scope share its tuple)
            open_scope, entries = scope, []
            for depth, (kind, name, label) in enumerate(scope):
                key = tuple(s[1] for s in scope[: depth + 1])
                entries.append(info.setdefault(key, {"kind": kind, "label": label, "params": 0,
                                                     "macs": 0, "memory": 0}))
        for entry in entries:  # the scope and those around it
            entry["params"] += data["params"]
            entry["macs"] += data["macs"]
            entry["shape"] = data["shape"]
            entry["memory"] = data["memory"]["output"]
    return info


# A network repeats its shapes and counts: each distinct one is written once
# (typed: a count of True, an op's bug, does not pass for 1).
_shape_text = lru_cache(maxsize=4096, typed=True)(fmt_shape)
_si_text = lru_cache(maxsize=4096, typed=True)(_si)
_num_text = lru_cache(maxsize=4096, typed=True)(_num)

# Each column: header, width and alignment; _cells reads them off a node's data.
COLUMNS = (
    ("output", 12, "<"),
    ("rf", 9, ">"),
    ("params", 11, ">"),
    ("MACs", 7, ">"),
    ("memory", 7, ">"),
)


def _cells(data: dict, batch: int) -> tuple:
    """A layer's COLUMNS, MACs and memory for ``batch`` samples."""
    return (_shape_text(data["shape"]), _rf_cell(data["rf"]), _num_text(data["params"]),
            _si_text(data["macs"] * batch) if data["macs"] else "-",
            _si_text(data["memory"]["output"] * batch, "B"))


NAME_WIDTH = 28
# A scope's row writes its block call across the columns a layer's op, output
# and rf use, which are empty on that row.
SPAN_COLUMNS = ("output", "rf")


def _row_format(name_w: int, op_w: int) -> str:
    """A layer row's format: name and op left aligned and cut to their widths, then the
    COLUMNS. (A %-format: a row per layer, and str.format takes twice as long.)"""
    return f"%-{name_w}.{name_w}s %-{op_w}.{op_w}s" + "".join(
        f" %{'-' if align == '<' else ''}{width}s" for _, width, align in COLUMNS)


def _row(form: str, name: str, op: str, cells) -> str:
    """A layer row in ``form`` (a :func:`_row_format`)."""
    row = form % (name, op, *cells)
    if not row.isprintable():  # spec text: no terminal control reaches the table
        row = form % (visible(name), visible(op), *cells)
    return row.rstrip()


def rows(net, depth: int | None = None, batch: int = 1) -> list[dict]:
    """The summary's rows in spec order: each stage, block call and path that opens
    (``kind`` "scope": its label and output shape), then each layer (``kind``
    "layer"), ``level`` deep; scopes deeper than ``depth`` folded into their row.
    ``cells`` are the formatted COLUMNS, MACs and memory for ``batch`` samples."""
    headers = [c[0] for c in COLUMNS]
    return [{"kind": kind, "level": level, "name": name, "op": op,
             "cells": dict(zip(headers, cells))}
            for kind, level, name, op, cells in _rows(net, depth, batch)]


def _rows(net, depth: int | None, batch: int):
    """:func:`rows` as tuples (kind, level, name, op, cells in COLUMNS' order), one at a
    time (the table formats each as it comes: a million layers' rows are never all
    made at once)."""
    g = net.graph
    scopes = _scopes(net)
    open_scope, open_path, folded = None, (), False
    for node, data in g.nodes(data=True):
        if node == "input":  # net.layers(), with their data
            continue
        if data["scope"] is not open_scope:  # (the layers of a scope share its tuple)
            open_scope = data["scope"]
            path = tuple([s[1] for s in open_scope])
            folded = depth is not None and len(path) > depth
            path = path[:depth + 1] if folded else path  # down to the folded scope's row
            common = 0
            while common < min(len(path), len(open_path)) and path[common] == open_path[common]:
                common += 1
            for level in range(common, len(path)):
                info = scopes[path[: level + 1]]
                cells = (fmt_shape(info["shape"]), "", _num(info["params"]),
                         _si(info["macs"] * batch), _si(info["memory"] * batch, "B"))
                yield ("scope", level, path[level],
                       info["label"] if info["kind"] != "path" else "", cells)
            open_path = path
        if folded:
            continue
        yield ("layer", len(open_path), node.rsplit(".", 1)[-1],
               data["op"].label(data["args"]), _cells(data, batch))


def _header(net) -> list[str]:
    g = net.graph
    head = [f"network {net.name}   input {fmt_shape(net.input_shape)}   "
            + ("outputs " + ", ".join(_output_text(net, o) for o in g.graph["outputs"])
               if g.graph["outputs"] else f"output {fmt_shape(net.output_shape)}")]
    if len(head[0]) > WIDTH:  # many outputs (a feature pyramid): one line each
        head = [f"network {net.name}   input {fmt_shape(net.input_shape)}   outputs"] + [
            "  " + _output_text(net, o) for o in g.graph["outputs"]]
    return head


def _totals(net, batch: int) -> list[str]:
    g = net.graph
    per = f" for a batch of {batch}" if batch != 1 else ""
    mem = g.graph["memory"]
    return [f"total {_num(g.graph['params'])} params, {_num(g.graph['buffers'])} buffer "
            f"elements, {len(net.layers())} layers",
            f"compute {_si(g.graph['macs'] * batch)} MACs (conv, linear; fvcore's convention)"
            f", {_si(g.graph['flops'] * batch)} other FLOPs{per}",
            f"memory ({mem['dtype']}) parameters {_si(mem['params'] + mem['buffers'], 'B')}, "
            f"inference peak {_si(mem['inference_peak'] * batch, 'B')}, "
            f"kept for backward {_si(mem['training_saved'] * batch, 'B')}{per}",
            "rf = receptive field size/stride in input pixels; memory = output bytes; "
            "buffers are not trained"]


def table(net, depth: int | None = None, batch: int = 1) -> str:
    """The summary: a row per layer under its stages and blocks (scopes deeper than
    ``depth`` folded into their row), totals, and memory for a batch of ``batch``."""
    return "\n".join(table_lines(net, depth, batch))


def table_lines(net, depth: int | None = None, batch: int = 1):
    """:func:`table`'s lines, made as they are read (`cnndsl check` writes each as it
    comes: a million layers' rows are never all in memory, as lines or as one text)."""
    fixed = sum(w + 1 for _, w, _ in COLUMNS)
    name_w = NAME_WIDTH
    op_w = WIDTH - fixed - name_w - 1
    # A scope's row writes its call and its shape across the op, output and rf columns.
    spanned = op_w + sum(w + 1 for h, w, _ in COLUMNS if h in SPAN_COLUMNS)
    yield from _header(net)
    yield ""
    form = _row_format(name_w, op_w)
    yield _row(form, "layer", "op", [c[0] for c in COLUMNS])
    yield "-" * WIDTH
    for kind, level, name, op, cells in _rows(net, depth, batch):
        name = "  " * level + name
        if kind == "layer":
            yield _row(form, name, op, cells)
            continue
        shape = " -> " + cells[0]  # what the stage or block yields
        label, room = visible(op), spanned - len(shape)  # a call's text, escaped
        label = label if len(label) <= room else label[:room - 3] + "..."
        text = f"{visible(name)[:name_w]:<{name_w}} {label + shape:<{spanned}}"
        for (header, width, align), cell in zip(COLUMNS, cells):
            if header not in SPAN_COLUMNS:
                text += f" {cell:{align}{width}}"
        yield text.rstrip()
    yield "-" * WIDTH
    yield from _totals(net, batch)


HTML_ROWS = 300  # a notebook's table folds blocks beyond this many layers


def html_table(net) -> str:
    """The summary as an HTML table, for Jupyter: the rows of :func:`table` (blocks
    folded to one row each past HTML_ROWS layers), then the totals."""
    import html  # noqa: PLC0415
    depth = 1 if len(net.layers()) > HTML_ROWS else None
    esc = html.escape
    right = ' style="text-align:right"'
    out = [f"<p><b>{esc(line.strip())}</b></p>" for line in _header(net)]
    out.append("<table><thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in
                                              ["layer", "op", *(c[0] for c in COLUMNS)])
               + "</tr></thead><tbody>")
    for r in rows(net, depth):
        name = esc(r["name"]) if r["kind"] == "layer" else f"<b>{esc(r['name'])}</b>"
        cells = "".join(f"<td{right}>{esc(r['cells'][h])}</td>" for h, *_ in COLUMNS)
        out.append(f'<tr><td style="padding-left:{r["level"]}em">{name}</td>'
                   f"<td>{esc(r['op'])}</td>{cells}</tr>")
    out.append("</tbody></table>")
    out += [f"<p>{esc(line)}</p>" for line in _totals(net, 1)]
    return "\n".join(out)


def _output_text(net, output) -> str:
    name, node, training = output
    shape = fmt_shape(net.graph.nodes[node]["shape"])
    return f"{visible(name)} {shape}" + (" (training)" if training else "")


# A spec value as JSON data: ranges too, and a huge value as its short text.
_jsonable = json_value


def _rf_json(field):
    """`{size: [h, w], stride: [h, w], padding: [h, w]}`, or "global" (the whole input).
    A stride or padding that is not whole is a string, "1/2"; a field that repeats only
    every few units (after upsampling) adds `period` and `units` (ReceptiveField.to_json)."""
    return field if isinstance(field, str) else field.to_json()


def layers_json(net):
    """Each layer's entry of the JSON document, in spec order, made as it is read."""
    for node, d in net.graph.nodes(data=True):
        if node == "input":  # net.layers(), with their data
            continue
        yield {
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
            "rf": _rf_json(d["rf"]),
            "memory": dict(d["memory"]),
            "line": d["span"].line,
        }


def to_json(net, *, lazy: bool = False) -> dict:
    """The document `cnndsl check --json` prints. ``lazy``: its "layers" an iterator
    of :func:`layers_json` (for :func:`write_json` to write as they come), not a list."""
    g = net.graph
    layers = layers_json(net) if lazy else list(layers_json(net))
    return {
        "network": net.name,
        "file": g.graph["file"],
        "settings": {k: _jsonable(v) for k, v in g.graph["settings"].items()},
        "input": list(net.input_shape),
        "output": list(net.output_shape),
        "outputs": [{"name": name, "layer": node, "shape": list(g.nodes[node]["shape"]),
                     "rf": _rf_json(g.nodes[node]["rf"]), "training": training}
                    for name, node, training in declared(g)],
        "params": g.graph["params"],
        "buffers": g.graph["buffers"],
        "macs": g.graph["macs"],
        "flops": g.graph["flops"],
        "rf": _rf_json(g.nodes[g.graph["output"]]["rf"]),
        "memory": dict(g.graph["memory"]),
        "layers": layers,
        "warnings": [w.to_json() for w in net.warnings],
    }


# ------------------------------------------------ sizes as formulas of H and W


def _formula_cells(net, formulas, symbols, node) -> list[str]:
    """[channels, height, width]; a flat tensor made from a CxHxW one: its size formula."""
    g = net.graph
    data = g.nodes[node]
    shape, f = data["shape"], formulas[node]
    if f is None:
        source = data["inputs"][0] if data["inputs"] else None
        if source is not None and formulas.get(source) is not None:
            c, h, w = _formula_cells(net, formulas, symbols, source)
            if shape[0] == int(c) * g.nodes[source]["shape"][1] * g.nodes[source]["shape"][2]:
                fixed = h.isdigit() and w.isdigit()
                return ["", str(shape[0]) if fixed else f"{c}*({h})*({w})", ""]
        return [fmt_shape(shape), "", ""]
    return [str(shape[0])] + [f[axis].format(symbols[axis]) if symbols[axis] else str(shape[1 + axis])
                              for axis in (0, 1)]


def formula_table(net, formulas: dict, symbols: tuple) -> str:
    """Each layer's channels, height and width, sizes as formulas of the named axes."""
    sym = tuple(s or str(net.input_shape[1 + i]) for i, s in enumerate(symbols))
    out = [f"network {net.name}   input {net.input_shape[0]}x{sym[0]}x{sym[1]}   "
           f"(floor and ceil as torch computes them)", ""]

    rows = {node: _formula_cells(net, formulas, symbols, node) for node in net.layers()}
    size_w = max([12] + [len(c) for cells in rows.values() if cells[2] for c in cells[1:]])
    name_w = max(16, min(NAME_WIDTH, WIDTH - 20 - 9 - 2 * (size_w + 2) - 1))

    def row(name, op, cells):
        name, op = visible(name), visible(op)
        text = f"{name[:name_w]:<{name_w}} {op[:20]:<20} {cells[0]:>8}"
        return (text + "".join(f"  {c:<{size_w}}" for c in cells[1:])).rstrip()

    out += [row("layer", "op", ["channels", "height", "width"]), "-" * WIDTH]
    open_path: tuple = ()
    for node in net.layers():
        data = net.graph.nodes[node]
        path = tuple(s[1] for s in data["scope"])
        common = 0
        while common < min(len(path), len(open_path)) and path[common] == open_path[common]:
            common += 1
        for depth in range(common, len(path)):
            kind, name, label = data["scope"][depth]
            out.append(f"{'  ' * depth + name:<{name_w}} "
                       f"{visible(label) if kind != 'path' else ''}".rstrip())
        open_path = path
        out.append(row("  " * len(path) + node.rsplit(".", 1)[-1], data["op"].label(data["args"]),
                       _flat_cells(rows[node], data["shape"])))
    return "\n".join(out)


def _flat_cells(cells: list[str], shape) -> list[str]:
    """A flat layer's cells as the table shows them: its size is a feature count, not a
    channel count or a height, so it says so: `features  16*(floor(H/4) - 2)*(...)`."""
    if shape is None or len(shape) != 1:
        return cells
    return ["features", cells[1] or cells[0], ""]


def add_formulas(doc: dict, net, formulas: dict, symbols: tuple) -> None:
    """Add `size` ([height, width] as formulas, or null) to every layer of a JSON document,
    and `features` (a formula) to a flat layer whose size depends on them; `input` names
    the axes given as symbols, `elaborated_at` keeps the concrete size. Lazy layers
    (``to_json(net, lazy=True)``) get theirs as they are read."""
    def sized(layer: dict) -> dict:
        cells = _formula_cells(net, formulas, symbols, layer["name"])
        layer["size"] = cells[1:] if cells[2] else None
        if not cells[2] and cells[1]:
            layer["features"] = cells[1]
        return layer

    if isinstance(doc["layers"], list):
        for layer in doc["layers"]:
            sized(layer)
    else:
        doc["layers"] = map(sized, doc["layers"])
    # The input as named (`3xHxW`), and the size the spec was elaborated at: blocks
    # that branch on `in.height` went as they go at that size.
    doc["elaborated_at"] = doc["input"]
    doc["input"] = [doc["input"][0], *(sym or n for sym, n in zip(symbols, doc["input"][1:]))]


def write_json(doc: dict, write) -> None:
    """Write ``doc`` as JSON text through ``write`` (``sys.stdout.write``): a line per
    key, a list of objects (layers, outputs, warnings) a line per object, each line
    json's compact encoding (its C encoder: fast). The layers of a lazy document
    (``to_json(net, lazy=True)``) are written as they come: a million of them are never
    all in memory, as data or as text."""
    head = "{"
    for key, value in doc.items():
        write(f"{head}\n {json.dumps(key)}: ")
        head = ","
        if isinstance(value, Iterator) or isinstance(value, list) and value and all(
                isinstance(item, dict) for item in value):
            _write_items(value, write)
        else:
            write(json.dumps(value))
    write("\n}" if doc else "{}")


# json.dumps's own C encoder, without the check for cycles (a document has none).
_encode = json.JSONEncoder(check_circular=False).encode


def _write_items(items, write) -> None:
    """A list's items, one a line, indented under their key."""
    head = "["
    for item in items:
        write(f"{head}\n  {_encode(item)}")
        head = ","
    write("[]" if head == "[" else "\n ]")


def min_input_json(net, sizes) -> dict | None:
    if sizes is None:
        return None
    shape = None if None in (sizes[0].minimum, sizes[1].minimum) else \
        [net.input_shape[0], sizes[0].minimum, sizes[1].minimum]
    return {"shape": shape, "height": sizes[0].to_json(), "width": sizes[1].to_json(),
            "rule": [sizes[0].rule("H"), sizes[1].rule("W")]}


def min_input_text(net, sizes) -> str:
    """`minimum input 3x15x15: H >= 15, W >= 15` and the divisibility, if any."""
    if sizes is None:
        return "minimum input: the input is flat, any feature count works"
    doc = min_input_json(net, sizes)
    shape = "none found" if doc["shape"] is None else fmt_shape(doc["shape"])
    return (f"minimum input {shape}: {doc['rule'][0]}; {doc['rule'][1]} "
            f"(every layer non-empty, every merge lined up, every pool reading its input whole)")


# ------------------------------------------------------------------ the zoo


def feature_field(net):
    """The receptive field of the last feature map that is not global: what a
    classifier's pooled features see (the output's own field is `global`)."""
    for node in reversed(net.layers()):
        field = net.graph.nodes[node]["rf"]
        if not isinstance(field, str):
            return field
    return net.graph.nodes[net.graph.graph["output"]]["rf"]


def zoo_entry(name: str, net) -> dict:
    """One builder's line of `cnndsl zoo`, as JSON data."""
    g = net.graph.graph
    return {"name": name, "spec": next(iter(net.sources.texts), None),
            "input": list(net.input_shape), "params": net.params,
            "macs": g["macs"], "rf": _rf_json(feature_field(net))}


def zoo_table(entries: list[dict]) -> str:
    """`cnndsl zoo`: a line per builder with its input, params, MACs and field."""
    lines = [f"{'builder':22} {'input':>10} {'params':>13} {'MACs':>8} {'rf':>9}  spec",
             "-" * 80]
    for e in entries:
        rf = e["rf"] if isinstance(e["rf"], str) else \
            f"{e['rf']['size'][0]}/{e['rf']['stride'][0]}"
        lines.append(f"{e['name']:22} {fmt_shape(e['input']):>10} {_num(e['params']):>13} "
                     f"{_si(e['macs']):>8} {rf:>9}  {e['spec']}")
    return "\n".join(lines)
