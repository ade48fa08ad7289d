"""Padding layers: zeros, reflection, replication or circular, each side its own."""

from __future__ import annotations

from .base import Arg, Choice, Ctor, Op, Padding, ShapeError, Window, register, sides, spatial

MODES = ("zeros", "reflect", "replicate", "circular")
TORCH_CLS = {"zeros": "ZeroPad2d", "reflect": "ReflectionPad2d",
             "replicate": "ReplicationPad2d", "circular": "CircularPad2d"}


@register
class Pad(Op):
    name = "pad"
    family = "padding"
    saved = ()  # the gradient of a pad only needs the sizes
    doc = ("Pad the height and width (nn.ZeroPad2d, ReflectionPad2d, ReplicationPad2d, "
           "CircularPad2d): `p` for every side, `(h, w)` per axis, or "
           "`((top, bottom), (left, right))`. Reflection needs padding below the input's "
           "size, circular at most its size.")
    example = ('input [3, 32, 32]\n'
               'pad(((0, 1), (0, 1)))  # one row and column after: 33x33\n'
               'conv(16, k=3, s=2)\n'
               'pad(1, mode="reflect")')
    shape_doc = "CxHxW -> Cx(top + H + bottom)x(left + W + right)"
    args = (
        Arg("padding", Padding(same=False), aliases=("p",)),
        Arg("mode", Choice(MODES), "zeros"),
    )

    def shape(self, a, ins):
        c, h, w = spatial(ins[0], self.name)
        (top, bottom), (left, right) = sides(a["padding"])
        for n, pads, axis in ((h, (top, bottom), "height"), (w, (left, right), "width")):
            limit = n - 1 if a["mode"] == "reflect" else n if a["mode"] == "circular" else None
            if limit is not None and max(pads) > limit:
                raise ShapeError(f"{a['mode']} padding {max(pads)} needs an input {axis} of "
                                 f"at least {max(pads) + (a['mode'] == 'reflect')}, got {n}",
                                 code="E0309", label=f"input is {c}x{h}x{w}",
                                 help="pad less, or pad with zeros")
        return (c, top + h + bottom, left + w + right)

    def flops(self, a, ins, out):
        return 0  # a copy

    def window(self, a):
        (top, bottom), (left, right) = sides(a["padding"])
        # A 1x1 window that adds rows and columns: the top and left ones shift
        # the field, the others only lengthen the output.
        end = None if (top, left) == (bottom, right) else (bottom, right)
        return Window(p=(top, left), p_end=end)

    def torch(self, a, ins, out):
        (top, bottom), (left, right) = sides(a["padding"])
        if top == bottom == left == right:
            return Ctor(TORCH_CLS[a["mode"]], (top,))
        return Ctor(TORCH_CLS[a["mode"]], ((left, right, top, bottom),))

    def label(self, a):
        pads = sides(a["padding"])
        text = str(pads[0][0]) if len({x for pair in pads for x in pair}) == 1 else \
            str(a["padding"]).replace(" ", "")
        return f"pad {text}" + ("" if a["mode"] == "zeros" else f" {a['mode']}")
