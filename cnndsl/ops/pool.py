"""Pooling: max and average windows, global and adaptive average.

Windows take torch's symmetric padding or TensorFlow's `same` and
asymmetric padding; the latter build a padded pool (Ctor.source below),
since torch.nn's pools pad both sides alike.
"""

from __future__ import annotations

from .base import (GLOBAL, SAME, Arg, ArgError, Bool, Ctor, Op, OrNone, Padding, Pair, ShapeError,
                   fmt_shape, kernel_window, numel, register, sides, spatial)
from .conv import _one, torch_pad

# TensorFlow's max pool ignores padding: pad with -inf, then pool without.
PADDED_MAXPOOL = '''\
class PaddedMaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d after a fixed padding `pad` = (left, right, top, bottom) of -inf,
    which may differ per side (TensorFlow's "SAME" puts the odd pixel last)."""

    def __init__(self, *args, pad=(0, 0, 0, 0), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pad = list(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.pad(x, self.pad, value=float("-inf"))
        return torch.nn.functional.max_pool2d(x, self.kernel_size, self.stride, 0, self.dilation)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", pad={tuple(self.pad)}"
'''

# TensorFlow's average pool divides by the input pixels a window covers,
# padding excluded: the sum over the zero-padded window over that count.
PADDED_AVGPOOL = '''\
class PaddedAvgPool2d(nn.AvgPool2d):
    """nn.AvgPool2d after a fixed zero padding `pad` = (left, right, top, bottom),
    which may differ per side; with count_include_pad=False each window averages
    only the input pixels it covers (TensorFlow's "SAME")."""

    def __init__(self, *args, pad=(0, 0, 0, 0), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pad = list(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = torch.nn.functional.pad
        mean = torch.nn.functional.avg_pool2d(pad(x, self.pad), self.kernel_size, self.stride)
        if self.count_include_pad:
            return mean
        ones = pad(torch.ones_like(x[:1, :1]), self.pad)
        return mean / torch.nn.functional.avg_pool2d(ones, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", pad={tuple(self.pad)}"
'''


class _Pool(Op):
    family = "pool"
    shape_doc = ("CxHxW -> CxH'xW', per axis n' = floor((n + p_before + p_after - d(k-1) - 1) "
                 "/ s) + 1 (ceil=true rounds up, but no window starts in the right padding), "
                 "or with p=\"same\" n' = ceil(n / s)")
    saved = ("input",)
    warn_unread_pixels = True

    def validate(self, a):
        if a["stride"] is None:
            a["stride"] = a["kernel"]  # torch's default: non-overlapping windows
        if a["padding"] == SAME:
            if a["ceil"]:
                raise ArgError('`ceil=true` with `padding="same"`', arg="ceil",
                               help='"same" fixes the output at ceil(n / s) already')
            return
        for k, pads in zip(a["kernel"], sides(a["padding"])):
            if max(pads) > k // 2:
                raise ArgError(f"padding {max(pads)} is more than half the kernel {k}",
                               arg="padding", help="torch allows at most kernel // 2")
        if a["ceil"] and not _symmetric(a):
            raise ArgError("`ceil=true` with padding that differs before and after the input",
                           arg="ceil", help="pad both sides alike, or pad the end instead of ceil")

    def shape(self, a, ins):
        c, h, w = spatial(ins[0], self.name)
        win = self.window(a).at((h, w))
        out = [win.out(axis, n) for axis, n in enumerate((h, w))]
        if min(out) < 1:
            raise ShapeError(f"`{self.name}` output would be empty ({c}x{out[0]}x{out[1]})",
                             label=f"input is {fmt_shape(ins[0])}",
                             help="use a smaller kernel or stride, or a larger input")
        return (c, *out)

    def flops(self, a, ins, out):
        kh, kw = a["kernel"]
        return numel(out) * kh * kw  # one compare or add per window element

    def window(self, a):
        return kernel_window(a["kernel"], a["stride"], a["padding"], a["ceil"], a["dilation"])

    def _kwargs(self, a, win):
        """Keyword arguments of the torch pool; ``pad`` where the padding is asymmetric."""
        kwargs = {}
        if a["stride"] != a["kernel"]:
            kwargs["stride"] = _one(a["stride"])
        if win.p_end is not None:
            kwargs["pad"] = torch_pad(win)
        elif win.p != (0, 0):
            kwargs["padding"] = _one(win.p)
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


def _symmetric(a) -> bool:
    return a["padding"] != SAME and all(before == after for before, after in sides(a["padding"]))


_WINDOW_ARGS = (
    Arg("kernel", Pair(min=1), aliases=("k", "kernel_size")),
    Arg("stride", OrNone(Pair(min=1)), None, aliases=("s",), doc="defaults to the kernel"),
    Arg("padding", Padding(), 0, aliases=("p",)),
)


@register
class MaxPool(_Pool):
    name = "maxpool"
    aliases = ("max_pool", "maxpool2d")
    saved = ("input", "indices")  # the argmax of each window
    doc = "Max pooling (nn.MaxPool2d)."
    example = ('input [64, 112, 112]\n'
               'maxpool(k=3, s=2, p=1)\n'
               'maxpool(k=3, s=2, p="same")  # padding never wins, as in TensorFlow')
    args = _WINDOW_ARGS + (
        Arg("dilation", Pair(min=1), 1, aliases=("d",)),
        Arg("ceil", Bool(), False, aliases=("ceil_mode",)),
    )

    def torch(self, a, ins, out):
        kwargs = self._kwargs(a, self.window(a).at(ins[0][1:]))
        if "pad" in kwargs:
            return Ctor("PaddedMaxPool2d", (_one(a["kernel"]),), kwargs, source=PADDED_MAXPOOL)
        return Ctor("MaxPool2d", (_one(a["kernel"]),), kwargs)


@register
class AvgPool(_Pool):
    name = "avgpool"
    aliases = ("avg_pool", "avgpool2d")
    doc = ("Average pooling (nn.AvgPool2d). Padding counts as zeros unless count_pad=false; "
           "`same` padding does not count unless count_pad=true (TensorFlow's \"SAME\" "
           "average leaves it out).")
    example = ('input [64, 56, 56]\n'
               'avgpool(2)\n'
               'avgpool(k=3, s=1, p="same")  # padding left out of the mean')
    args = _WINDOW_ARGS + (
        Arg("ceil", Bool(), False, aliases=("ceil_mode",)),
        Arg("count_pad", OrNone(Bool()), None, aliases=("count_include_pad",),
            doc='`true`, or `false` with `padding="same"`'),
    )

    def validate(self, a):
        a["dilation"] = (1, 1)
        super().validate(a)
        if a["count_pad"] is None:
            a["count_pad"] = a["padding"] != SAME

    def torch(self, a, ins, out):
        kwargs = self._kwargs(a, self.window(a).at(ins[0][1:]))
        kwargs.pop("dilation", None)
        if not a["count_pad"]:
            kwargs["count_include_pad"] = False
        if "pad" in kwargs:
            return Ctor("PaddedAvgPool2d", (_one(a["kernel"]),), kwargs, source=PADDED_AVGPOOL)
        return Ctor("AvgPool2d", (_one(a["kernel"]),), kwargs)


class _AdaptivePool(Op):
    """Pooling to a fixed output size, the windows computed by torch from the input's."""

    family = "pool"
    shape_doc = "CxHxW -> C x size"
    args = (Arg("size", Pair(min=1), aliases=("output_size",)),)
    kind = ""  # "avg" or "max": the torch class and the label

    def shape(self, a, ins):
        c, _, _ = spatial(ins[0], self.name)
        return (c, *a["size"])

    def flops(self, a, ins, out):
        return numel(ins[0])  # every input element is added or compared once (as fvcore)

    def window(self, a):
        # Adaptive windows vary in size across the output; reported as global,
        # which is exact for 1x1 and an upper bound otherwise.
        return GLOBAL

    def torch(self, a, ins, out):
        return Ctor(f"Adaptive{self.kind.capitalize()}Pool2d", (_one(a["size"]),))

    def label(self, a):
        return f"adaptive {self.kind}pool {a['size'][0]}x{a['size'][1]}"


@register
class AdaptiveAvgPool(_AdaptivePool):
    name = "adaptive_avgpool"
    aliases = ("adaptive_avg_pool",)
    kind = "avg"
    saved = ("input",)
    doc = "Adaptive average pooling to a fixed output size (nn.AdaptiveAvgPool2d)."
    example = ('input [256, 13, 13]\n'
               'adaptive_avgpool((6, 6)) flatten linear(10)')

    def saves(self, a):
        return () if a["size"] == (1, 1) else self.saved  # torch pools to 1x1 with mean()


@register
class AdaptiveMaxPool(_AdaptivePool):
    name = "adaptive_maxpool"
    aliases = ("adaptive_max_pool",)
    kind = "max"
    saved = ("input", "indices")  # the argmax of each window
    doc = "Adaptive max pooling to a fixed output size (nn.AdaptiveMaxPool2d)."
    example = ('input [256, 13, 13]\n'
               'adaptive_maxpool((6, 6)) flatten linear(10)')


@register
class GlobalAvgPool(Op):
    name = "global_avgpool"
    aliases = ("gap", "global_avg_pool")
    family = "pool"
    saved = ()  # torch computes it as mean(), whose backward needs only the shape
    doc = "Average over the whole feature map, keeping Cx1x1 (nn.AdaptiveAvgPool2d(1))."
    example = ('input [512, 7, 7]\n'
               'global_avgpool flatten linear(10)')
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
