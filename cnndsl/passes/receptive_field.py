"""Receptive field of every layer, per axis, from each op's window.

Following Araujo, Norris and Sim, "Computing Receptive Fields of
Convolutional Neural Networks" (Distill, 2019), a layer with kernel extent
``k`` (dilation included: ``d*(k-1)+1``), stride ``s`` and padding ``p``
maps the field of its input, measured in input pixels, to

    r_out = r_in + (k - 1) * S_in      (size)
    S_out = S_in * s                   (stride, the "jump" between units)
    P_out = P_in + p * S_in            (effective padding)

which is their backward recursion ``r_in = s*r_out + (k - s)`` read from
the input forwards. Output unit ``j`` then sees input pixels
``[j*S - P, j*S - P + r - 1]``; its centre is ``j*S - P + (r - 1)/2``.

Where paths meet, a unit sees the union of what its paths see. With equal
strides that union is again an interval, exactly ``P = max P_i`` and
``r = max(r_i - P_i) + P``, which is the largest path's field when the
centres agree. Paths whose strides or centres differ are not aligned: the
merge mixes features centred on different pixels, which is legal but
usually a mistake, so it gets a warning naming both paths.

``p`` is the padding before the input (top, left). Padding after it
(TensorFlow's `same`, asymmetric padding) changes the output's length,
never where a unit looks; `same` padding depends on the input's size, so
each layer's window is taken at its input's size.

A layer after a global pool, flatten or linear sees the whole input: its
field is :data:`WHOLE_INPUT`, not a number.

Statistics of the whole feature map are left out of the field: the
squeeze-and-excitation gate of a `mul` (a path broadcast over both spatial
axes: the op names the inputs that count, ``Op.field_inputs``) and the
mean and variance of group and instance norm. Each depends on every
pixel, but only scales and shifts what a unit sees through its windows;
counting it would make every layer after the first SE block `global` and
hide the field people want. tests/test_receptive_field.py checks this
definition with gradients, those statistics detached.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..diagnostics import Diagnostic
from ..ops import GLOBAL

WHOLE_INPUT = GLOBAL  # a field that covers the whole input


@dataclass(frozen=True)
class ReceptiveField:
    """Field of one output unit, per axis (h, w), in input pixels."""

    size: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)

    def through(self, window) -> "ReceptiveField":
        """The field after a layer with this :class:`~cnndsl.ops.Window`."""
        return ReceptiveField(
            tuple(r + (k - 1) * s for r, k, s in zip(self.size, window.k, self.stride)),
            tuple(s * ws for s, ws in zip(self.stride, window.s)),
            tuple(p + wp * s for p, wp, s in zip(self.padding, window.p, self.stride)))

    def span(self, unit: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        """The input pixels output unit ``(i, j)`` sees, per axis: ((top, bottom),
        (left, right)), inclusive, in input pixel coordinates. They may reach
        outside the image (``< 0`` or ``>= size``): that part falls in padding."""
        return tuple((u * s - p, u * s - p + r - 1)
                     for u, s, p, r in zip(unit, self.stride, self.padding, self.size))

    def centre2(self) -> tuple[int, int]:
        """Twice the centre of unit 0 (an integer even for even fields)."""
        return tuple(r - 1 - 2 * p for r, p in zip(self.size, self.padding))

    def to_json(self) -> dict:
        return {"size": list(self.size), "stride": list(self.stride),
                "padding": list(self.padding)}


def union(fields: list[ReceptiveField]) -> ReceptiveField:
    """What a merge of these paths sees, per axis.

    Exact with equal strides; with unequal strides the union changes from
    unit to unit, and this reports the largest path's field at the largest
    stride (the paths are reported as not aligned anyway).
    """
    size, stride, padding = [], [], []
    for axis in (0, 1):
        strides = {f.stride[axis] for f in fields}
        if len(strides) == 1:
            p = max(f.padding[axis] for f in fields)
            size.append(max(f.size[axis] - f.padding[axis] for f in fields) + p)
            padding.append(p)
            stride.append(strides.pop())
        else:
            big = max(fields, key=lambda f: (f.size[axis], f.stride[axis]))
            size.append(big.size[axis])
            padding.append(big.padding[axis])
            stride.append(max(strides))
    return ReceptiveField(tuple(size), tuple(stride), tuple(padding))


def _path_name(merge_data: dict, source_data: dict) -> str:
    """The path of a merge that ends in ``source``, as users named it: the
    source's scope one level below the merge's, if that level is a path."""
    depth = len(merge_data["scope"])
    scope = source_data["scope"]
    if scope[:depth] == merge_data["scope"] and len(scope) > depth and scope[depth][0] == "path":
        return f"`{scope[depth][1]}`"
    return "an empty path"


def _fmt_axis(f: ReceptiveField, axis: int) -> str:
    c2 = f.centre2()[axis]
    centre = str(c2 // 2) if c2 % 2 == 0 else f"{c2 / 2:g}"
    return f"size {f.size[axis]}, stride {f.stride[axis]}, centre {centre}"


def _misaligned(nodes, data: dict, inputs: list, fields: list[ReceptiveField]) -> Diagnostic | None:
    first = fields[0]
    for source, f in zip(inputs[1:], fields[1:]):
        for axis, axis_name in ((0, "height"), (1, "width")):
            if (f.stride[axis], f.centre2()[axis]) != (first.stride[axis],
                                                       first.centre2()[axis]):
                a = _path_name(data, nodes[inputs[0]])
                b = _path_name(data, nodes[source])
                differ = ("strides and centres" if f.stride[axis] != first.stride[axis]
                          and f.centre2()[axis] != first.centre2()[axis] else
                          "strides" if f.stride[axis] != first.stride[axis] else "centres")
                return Diagnostic(
                    "W0301", "the receptive fields of these paths are not aligned",
                    data["span"], f"{a} and {b} see regions with different {differ}",
                    notes=(f"in {axis_name}, {a} has {_fmt_axis(first, axis)} "
                           f"(in input pixels, for output unit 0)",
                           f"in {axis_name}, {b} has {_fmt_axis(f, axis)}")
                    + tuple(data["chain"]),
                    help="pad the paths alike so their output units share a centre",
                    severity="warning")
    return None


def run(graph) -> list[Diagnostic]:
    """Write ``rf`` (a :class:`ReceptiveField` or ``WHOLE_INPUT``) on every node."""
    warnings, warned_at = [], set()
    nodes = graph.nodes
    for node, data in nodes(data=True):
        if not data["inputs"]:
            data["rf"] = ReceptiveField()
            continue
        op, args, sources = data["op"], data["args"], data["inputs"]
        if len(sources) > 1:  # the op says which paths count (not a gate that `mul` broadcasts)
            kept = op.field_inputs(args, [nodes[i]["shape"] for i in sources], data["shape"])
            sources = [sources[i] for i in kept]
        fields = [nodes[i]["rf"] for i in sources]
        window = op.window(args)
        if window == GLOBAL or WHOLE_INPUT in fields:
            data["rf"] = WHOLE_INPUT
            continue
        if window.same:  # TensorFlow's padding depends on the input's size
            window = window.at(nodes[data["inputs"][0]]["shape"][1:])
        if len(fields) > 1:
            found = _misaligned(nodes, data, sources, fields)
            if found is not None and found.span not in warned_at:
                warned_at.add(found.span)  # once per merge in the source, at its first call
                warnings.append(found)
            field = union(fields)
        else:
            field = fields[0]
        data["rf"] = field.through(window)
    return warnings
