"""Fully connected layers and flattening."""

from __future__ import annotations

from .base import GLOBAL, Arg, Bool, Ctor, Int, Op, ShapeError, fmt_shape, numel, register


@register
class Linear(Op):
    name = "linear"
    aliases = ("fc", "dense")
    family = "linear"
    saved = ("input",)
    doc = "Fully connected layer (nn.Linear); needs a flat input."
    shape_doc = "F -> features (a flat input only)"
    args = (
        Arg("features", Int(min=1), aliases=("out", "out_features")),
        Arg("bias", Bool(), True),
    )

    def shape(self, a, ins):
        if len(ins[0]) != 1:
            raise ShapeError(f"`linear` needs a flat input, got {fmt_shape(ins[0])}",
                             code="E0303", label=f"input is {fmt_shape(ins[0])}",
                             help="add `flatten` before it")
        return (a["features"],)

    def params(self, a, ins, out):
        return ins[0][0] * a["features"] + (a["features"] if a["bias"] else 0), 0

    def macs(self, a, ins, out):
        return ins[0][0] * a["features"]

    def flops(self, a, ins, out):
        return a["features"] if a["bias"] else 0

    def window(self, a):
        return GLOBAL

    def torch(self, a, ins, out):
        return Ctor("Linear", (ins[0][0], a["features"]), {} if a["bias"] else {"bias": False})

    def label(self, a):
        return f"linear {a['features']}"


@register
class Flatten(Op):
    name = "flatten"
    family = "linear"
    saved = ()
    view = True
    doc = "Flatten CxHxW to C*H*W features (nn.Flatten)."
    shape_doc = "CxHxW -> C*H*W"

    def shape(self, a, ins):
        return (numel(ins[0]),)

    def flops(self, a, ins, out):
        return 0  # a view: no arithmetic

    def window(self, a):
        return GLOBAL

    def torch(self, a, ins, out):
        return Ctor("Flatten")
