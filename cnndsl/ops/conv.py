"""Convolutions."""

from __future__ import annotations

from .base import (GLOBAL, Arg, ArgError, Bool, Ctor, Int, Op, Pair, ShapeError, Window, extent,
                   fmt_shape, numel, register, spatial, window_out)


@register
class Conv(Op):
    name = "conv"
    aliases = ("conv2d",)
    family = "conv"
    saved = ("input",)  # the weight gradient needs x
    doc = "2-D convolution (nn.Conv2d)."
    shape_doc = ("CxHxW -> channels x H' x W', per axis n' = floor((n + 2p - d(k-1) - 1) / s) + 1; "
                 "C divisible by groups")
    args = (
        Arg("channels", Int(min=1), aliases=("c", "out", "out_channels"), doc="output channels"),
        Arg("kernel", Pair(min=1), aliases=("k", "kernel_size")),
        Arg("stride", Pair(min=1), 1, aliases=("s",)),
        Arg("padding", Pair(min=0), 0, aliases=("p",)),
        Arg("dilation", Pair(min=1), 1, aliases=("d",)),
        Arg("groups", Int(min=1), 1, aliases=("g",)),
        Arg("bias", Bool(), True),
    )

    def validate(self, a):
        if a["channels"] % a["groups"]:
            raise ArgError(f"output channels ({a['channels']}) must be divisible by groups "
                           f"({a['groups']})", arg="groups")

    def shape(self, a, ins):
        c, h, w = spatial(ins[0], self.name)
        if c % a["groups"]:
            raise ShapeError(f"input channels ({c}) must be divisible by groups ({a['groups']})",
                             code="E0306", label=f"input has {c} channels")
        out = []
        for n, k, s, p, d, axis in zip((h, w), a["kernel"], a["stride"], a["padding"],
                                       a["dilation"], ("height", "width")):
            span = extent(k, d)
            if n + 2 * p < span:
                raise ShapeError(f"kernel {span} is larger than the padded input {axis} "
                                 f"{n + 2 * p}", label=f"input is {fmt_shape(ins[0])}",
                                 help="lower the kernel or add padding")
            out.append(window_out(n, k, s, p, d))
        return (a["channels"], *out)

    def params(self, a, ins, out):
        kh, kw = a["kernel"]
        weight = a["channels"] * (ins[0][0] // a["groups"]) * kh * kw
        return weight + (a["channels"] if a["bias"] else 0), 0

    def macs(self, a, ins, out):
        kh, kw = a["kernel"]
        return numel(out) * (ins[0][0] // a["groups"]) * kh * kw

    def flops(self, a, ins, out):
        return numel(out) if a["bias"] else 0  # bias additions

    def window(self, a):
        k = tuple(map(extent, a["kernel"], a["dilation"]))
        return Window(k, a["stride"], a["padding"])

    def torch(self, a, ins, out):
        kwargs = {"kernel_size": _one(a["kernel"])}
        for key, default in (("stride", 1), ("padding", 0), ("dilation", 1)):
            if a[key] != (default, default):
                kwargs[key] = _one(a[key])
        if a["groups"] != 1:
            kwargs["groups"] = a["groups"]
        if not a["bias"]:
            kwargs["bias"] = False
        return Ctor("Conv2d", (ins[0][0], a["channels"]), kwargs)

    def label(self, a):
        kh, kw = a["kernel"]
        text = f"conv {kh}x{kw}"
        if a["stride"] != (1, 1):
            text += "/" + str(_one(a["stride"])).replace(" ", "")
        if a["dilation"] != (1, 1):
            text += f" d{_one(a['dilation'])}"
        if a["groups"] != 1:
            text += f" g{a['groups']}"
        return f"{text}, {a['channels']}"


def _one(pair):
    """`(3, 3)` -> `3`, so generated code reads as people write it."""
    return pair[0] if pair[0] == pair[1] else pair


__all__ = ["Conv", "GLOBAL"]
