"""Convolutions, with torch's symmetric padding or TensorFlow's `same` and
asymmetric padding (a :class:`PaddedConv2d`, nn.Conv2d after a fixed F.pad)."""

from __future__ import annotations

from .base import (GLOBAL, Arg, ArgError, Bool, Ctor, Int, Op, Padding, Pair, ShapeError, extent,
                   fmt_shape, kernel_window, numel, register, spatial)
from .geometry import Resize, transposed_map

# Emitted into generated files (Ctor.source) for a padding torch.nn.Conv2d cannot
# take: different before and after the input. Same parameters and state_dict
# keys as nn.Conv2d; _conv_forward keeps it scriptable.
PADDED_CONV = '''\
class PaddedConv2d(nn.Conv2d):
    """nn.Conv2d after a fixed zero padding `pad` = (left, right, top, bottom),
    which may differ per side (TensorFlow's "SAME" puts the odd pixel last)."""

    def __init__(self, *args, pad=(0, 0, 0, 0), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pad = list(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(torch.nn.functional.pad(x, self.pad), self.weight, self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", pad={tuple(self.pad)}"
'''


def _label(kind: str, a: dict) -> str:
    """`conv 3x3/2 d2 g4, 64`: kernel, then stride, dilation and groups where not 1."""
    kh, kw = a["kernel"]
    text = f"{kind} {kh}x{kw}"
    if a["stride"] != (1, 1):
        text += "/" + str(_one(a["stride"])).replace(" ", "")
    if a["dilation"] != (1, 1):
        text += f" d{_one(a['dilation'])}"
    if a["groups"] != 1:
        text += f" g{a['groups']}"
    return f"{text}, {a['channels']}"


@register
class Conv(Op):
    name = "conv"
    aliases = ("conv2d",)
    family = "conv"
    saved = ("input",)  # the weight gradient needs x
    doc = "2-D convolution (nn.Conv2d)."
    example = ('input [3, 32, 32]\n'
               'conv(16, k=3, p=1)\n'
               'conv(32, k=3, s=2, p="same")  # 16x16; the odd row and column of padding last\n'
               'conv(32, k=(1, 7), p=(0, 3), groups=2, bias=false)\n'
               'conv(32, k=2, p=((0, 1), (0, 1)))  # top, bottom, left, right')
    shape_doc = ("CxHxW -> channels x H' x W', per axis n' = floor((n + p_before + p_after "
                 "- d(k-1) - 1) / s) + 1 (p_before = p_after = p for an int or (h, w)), "
                 "or with p=\"same\" n' = ceil(n / s); C divisible by groups")
    args = (
        Arg("channels", Int(min=1), aliases=("c", "out", "out_channels"), doc="output channels"),
        Arg("kernel", Pair(min=1), aliases=("k", "kernel_size")),
        Arg("stride", Pair(min=1), 1, aliases=("s",)),
        Arg("padding", Padding(), 0, aliases=("p",)),
        Arg("dilation", Pair(min=1), 1, aliases=("d",)),
        Arg("groups", Int(min=1), 1, aliases=("g",)),
        Arg("bias", Bool(), True),
    )

    def misread(self, positional, keywords, ins):
        # PyTorch's Conv2d(in, out, kernel[, stride, padding]): the first number is the
        # input's channels, the second a width (rarely a kernel of 8 or more).
        shape = ins[0] if ins else None
        if len(positional) < 3 or shape is None or len(shape) != 3 or \
                not all(isinstance(v, int) and not isinstance(v, bool) for v in positional[:3]):
            return None
        if positional[0] != shape[0] or positional[1] < 8:
            return None
        rest = "".join(f", {k}={v}" for k, v in zip(("s", "p"), positional[3:5]))
        return (f"this reads channels={positional[0]}, kernel={positional[1]}, "
                f"stride={positional[2]}; in PyTorch's order (in, out, kernel) write "
                f"`{self.name}({positional[1]}, k={positional[2]}{rest})`: the input's "
                f"{shape[0]} channels come from the tensor flowing in")

    def validate(self, a):
        if a["channels"] % a["groups"]:
            raise ArgError(f"output channels ({a['channels']}) must be divisible by groups "
                           f"({a['groups']})", arg="groups")

    def shape(self, a, ins):
        c, h, w = spatial(ins[0], self.name)
        if c % a["groups"]:
            raise ShapeError(f"input channels ({c}) must be divisible by groups ({a['groups']})",
                             code="E0306", label=f"input has {c} channels")
        win = self.window(a).at((h, w))
        out = (a["channels"], win.out(0, h), win.out(1, w))
        if min(out) < 1:  # (without ceil mode, only a kernel beyond the padded input does it)
            for axis, n in enumerate((h, w)):
                span, padded = win.k[axis], n + win.p[axis] + win.end[axis]
                if padded < span:
                    raise ShapeError(f"kernel {span} is larger than the padded input "
                                     f"{('height', 'width')[axis]} {padded}",
                                     label=f"input is {fmt_shape(ins[0])}",
                                     help="lower the kernel or add padding")
        return out

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
        return kernel_window(a["kernel"], a["stride"], a["padding"], False, a["dilation"])

    def torch(self, a, ins, out):
        win = self.window(a).at(ins[0][1:])
        kwargs = {"kernel_size": _one(a["kernel"])}
        if a["stride"] != (1, 1):
            kwargs["stride"] = _one(a["stride"])
        if win.p_end is None and win.p != (0, 0):
            kwargs["padding"] = _one(win.p)
        if a["dilation"] != (1, 1):
            kwargs["dilation"] = _one(a["dilation"])
        if a["groups"] != 1:
            kwargs["groups"] = a["groups"]
        if not a["bias"]:
            kwargs["bias"] = False
        if win.p_end is None:
            return Ctor("Conv2d", (ins[0][0], a["channels"]), kwargs)
        kwargs["pad"] = torch_pad(win)
        return Ctor("PaddedConv2d", (ins[0][0], a["channels"]), kwargs, source=PADDED_CONV)

    def label(self, a):
        return _label("conv", a)


@register
class ConvTranspose(Op):
    name = "conv_transpose"
    aliases = ("deconv", "conv_transpose2d")
    family = "conv"
    saved = ("input",)  # the weight gradient needs x
    doc = ("2-D transposed convolution (nn.ConvTranspose2d): each input pixel spreads "
           "the kernel over the output, `stride` pixels apart; `padding` trims the output, "
           "`output_padding` adds rows and columns at its end (below the stride or dilation).")
    example = ('input [64, 16, 16]\n'
               'conv_transpose(32, k=2, s=2)  # U-Net\'s up-convolution: 32x32\n'
               'conv_transpose(16, k=3, s=2, p=1, op=1)  # 64x64\n'
               'deconv(8, k=4, s=2, p=1, groups=2, bias=false)  # 128x128')
    shape_doc = ("CxHxW -> channels x H' x W', per axis n' = (n - 1)s - 2p + d(k - 1) + "
                 "output_padding + 1; C and channels divisible by groups")
    args = (
        Arg("channels", Int(min=1), aliases=("c", "out", "out_channels"), doc="output channels"),
        Arg("kernel", Pair(min=1), aliases=("k", "kernel_size")),
        Arg("stride", Pair(min=1), 1, aliases=("s",)),
        Arg("padding", Pair(min=0), 0, aliases=("p",)),
        Arg("output_padding", Pair(min=0), 0, aliases=("op",)),
        Arg("groups", Int(min=1), 1, aliases=("g",)),
        Arg("dilation", Pair(min=1), 1, aliases=("d",)),
        Arg("bias", Bool(), True),
    )

    def validate(self, a):
        if a["channels"] % a["groups"]:
            raise ArgError(f"output channels ({a['channels']}) must be divisible by groups "
                           f"({a['groups']})", arg="groups")
        for op, s, d in zip(a["output_padding"], a["stride"], a["dilation"]):
            if op >= max(s, d):
                raise ArgError(f"output padding {op} must be smaller than the stride ({s}) "
                               f"or the dilation ({d})", arg="output_padding",
                               help="torch allows output_padding < max(stride, dilation)")

    def _length(self, a, axis: int, n: int) -> int:
        k, s, p = a["kernel"][axis], a["stride"][axis], a["padding"][axis]
        return (n - 1) * s - 2 * p + extent(k, a["dilation"][axis]) + a["output_padding"][axis]

    def shape(self, a, ins):
        c, h, w = spatial(ins[0], self.name)
        if c % a["groups"]:
            raise ShapeError(f"input channels ({c}) must be divisible by groups ({a['groups']})",
                             code="E0306", label=f"input has {c} channels")
        out = [self._length(a, axis, n) for axis, n in enumerate((h, w))]
        if min(out) < 1:
            raise ShapeError(f"`{self.name}` output would be empty ({a['channels']}x{out[0]}x"
                             f"{out[1]})", label=f"input is {fmt_shape(ins[0])}",
                             help="lower the padding")
        return (a["channels"], *out)

    def params(self, a, ins, out):
        kh, kw = a["kernel"]
        weight = ins[0][0] * (a["channels"] // a["groups"]) * kh * kw
        return weight + (a["channels"] if a["bias"] else 0), 0

    def macs(self, a, ins, out):
        # fvcore's transposed conv: every input pixel times the whole kernel
        kh, kw = a["kernel"]
        return numel(ins[0]) * (a["channels"] // a["groups"]) * kh * kw

    def flops(self, a, ins, out):
        return numel(out) if a["bias"] else 0  # bias additions

    def index_map(self, a, ins, out):
        return tuple(transposed_map(a["kernel"][x], a["stride"][x], a["padding"][x],
                                    a["dilation"][x]) for x in (0, 1))

    def resize(self, a, axis):
        s = a["stride"][axis]
        return Resize(mul=s, add=self._length(a, axis, 0))

    def torch(self, a, ins, out):
        kwargs = {"kernel_size": _one(a["kernel"])}
        for name in ("stride", "padding", "output_padding", "dilation"):
            if a[name] != ((1, 1) if name in ("stride", "dilation") else (0, 0)):
                kwargs[name] = _one(a[name])
        if a["groups"] != 1:
            kwargs["groups"] = a["groups"]
        if not a["bias"]:
            kwargs["bias"] = False
        return Ctor("ConvTranspose2d", (ins[0][0], a["channels"]), kwargs)

    def label(self, a):
        return _label("deconv", a)


def _one(pair):
    """`(3, 3)` -> `3`, so generated code reads as people write it."""
    return pair[0] if pair[0] == pair[1] else pair


def torch_pad(win) -> tuple[int, int, int, int]:
    """An explicit window's padding in F.pad's order: (left, right, top, bottom)."""
    return (win.p[1], win.end[1], win.p[0], win.end[0])


__all__ = ["Conv", "ConvTranspose", "GLOBAL"]
