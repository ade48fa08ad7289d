"""Pooling: max and average windows, global and adaptive average."""

from __future__ import annotations

from .base import (GLOBAL, Arg, ArgError, Bool, Ctor, Op, Pair, ShapeError, Window, extent,
                   fmt_shape, numel, register, spatial, window_out)
from .conv import _one


class _Pool(Op):
    family = "pool"
    shape_doc = ("CxHxW -> CxH'xW', per axis n' = floor((n + 2p - d(k-1) - 1) / s) + 1 "
                 "(ceil=true rounds up, but no window starts in the right padding)")
    saved = ("input",)
    warn_unread_pixels = True

    def validate(self, a):
        if a["stride"] is None:
            a["stride"] = a["kernel"]  # torch's default: non-overlapping windows
        for k, p in zip(a["kernel"], a["padding"]):
            if p > k // 2:
                raise ArgError(f"padding {p} is more than half the kernel {k}", arg="padding",
                               help="torch allows at most kernel // 2")

    def shape(self, a, ins):
        c, h, w = spatial(ins[0], self.name)
        out = []
        for n, k, s, p, d in zip((h, w), a["kernel"], a["stride"], a["padding"], a["dilation"]):
            out.append(window_out(n, k, s, p, d, a["ceil"]))
        if min(out) < 1:
            raise ShapeError(f"`{self.name}` output would be empty ({c}x{out[0]}x{out[1]})",
                             label=f"input is {fmt_shape(ins[0])}",
                             help="use a smaller kernel or stride, or a larger input")
        return (c, *out)

    def flops(self, a, ins, out):
        kh, kw = a["kernel"]
        return numel(out) * kh * kw  # one compare or add per window element

    def window(self, a):
        k = tuple(map(extent, a["kernel"], a["dilation"]))
        return Window(k, a["stride"], a["padding"], a["ceil"])

    def _kwargs(self, a):
        kwargs = {}
        if a["stride"] != a["kernel"]:
            kwargs["stride"] = _one(a["stride"])
        if a["padding"] != (0, 0):
            kwargs["padding"] = _one(a["padding"])
        if a["dilation"] != (1, 1):
            kwargs["dilation"] = _one(a["dilation"])
        if a["ceil"]:
            kwargs["ceil_mode"] = True
        return kwargs

    def label(self, a):
        kh, kw = a["kernel"]
        text = f"{self.name} {kh}x{kw}"
        if a["stride"] != (1, 1):
            text += "/" + str(_one(a["stride"])).replace(" ", "")
        return text


class OrNone:
    """``None`` (filled in by validate) or a value of ``inner``'s type."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, v):
        return None if v is None else self.inner(v)

    def describe(self) -> str:
        return self.inner.describe()


_WINDOW_ARGS = (
    Arg("kernel", Pair(min=1), aliases=("k", "kernel_size")),
    Arg("stride", OrNone(Pair(min=1)), None, aliases=("s",), doc="defaults to the kernel"),
    Arg("padding", Pair(min=0), 0, aliases=("p",)),
)


@register
class MaxPool(_Pool):
    name = "maxpool"
    aliases = ("max_pool", "maxpool2d")
    saved = ("input", "indices")  # the argmax of each window
    doc = "Max pooling (nn.MaxPool2d)."
    args = _WINDOW_ARGS + (
        Arg("dilation", Pair(min=1), 1, aliases=("d",)),
        Arg("ceil", Bool(), False, aliases=("ceil_mode",)),
    )

    def torch(self, a, ins, out):
        return Ctor("MaxPool2d", (_one(a["kernel"]),), self._kwargs(a))


@register
class AvgPool(_Pool):
    name = "avgpool"
    aliases = ("avg_pool", "avgpool2d")
    doc = "Average pooling (nn.AvgPool2d); padding counts as zeros unless count_pad=false."
    args = _WINDOW_ARGS + (
        Arg("ceil", Bool(), False, aliases=("ceil_mode",)),
        Arg("count_pad", Bool(), True, aliases=("count_include_pad",)),
    )

    def validate(self, a):
        a["dilation"] = (1, 1)
        super().validate(a)

    def torch(self, a, ins, out):
        kwargs = self._kwargs(a)
        kwargs.pop("dilation", None)
        if not a["count_pad"]:
            kwargs["count_include_pad"] = False
        return Ctor("AvgPool2d", (_one(a["kernel"]),), kwargs)


@register
class AdaptiveAvgPool(Op):
    name = "adaptive_avgpool"
    aliases = ("adaptive_avg_pool",)
    family = "pool"
    saved = ("input",)

    def saves(self, a):
        return () if a["size"] == (1, 1) else self.saved  # torch pools to 1x1 with mean()
    doc = "Adaptive average pooling to a fixed output size (nn.AdaptiveAvgPool2d)."
    shape_doc = "CxHxW -> C x size"
    args = (Arg("size", Pair(min=1), aliases=("output_size",)),)

    def shape(self, a, ins):
        c, _, _ = spatial(ins[0], self.name)
        return (c, *a["size"])

    def flops(self, a, ins, out):
        return numel(ins[0])  # every input element is added once (fvcore counts the same)

    def window(self, a):
        # Adaptive windows vary in size across the output; reported as global,
        # which is exact for 1x1 and an upper bound otherwise.
        return GLOBAL

    def torch(self, a, ins, out):
        return Ctor("AdaptiveAvgPool2d", (_one(a["size"]),))

    def label(self, a):
        return f"adaptive avgpool {a['size'][0]}x{a['size'][1]}"


@register
class GlobalAvgPool(Op):
    name = "global_avgpool"
    aliases = ("gap", "global_avg_pool")
    family = "pool"
    saved = ()  # torch computes it as mean(), whose backward needs only the shape
    doc = "Average over the whole feature map, keeping Cx1x1 (nn.AdaptiveAvgPool2d(1))."
    shape_doc = "CxHxW -> Cx1x1"

    def shape(self, a, ins):
        c, _, _ = spatial(ins[0], self.name)
        return (c, 1, 1)

    def flops(self, a, ins, out):
        return numel(ins[0])

    def window(self, a):
        return GLOBAL

    def torch(self, a, ins, out):
        return Ctor("AdaptiveAvgPool2d", (1,))

    def label(self, a):
        return "global avgpool"
