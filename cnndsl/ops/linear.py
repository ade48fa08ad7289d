"""Fully connected layers, over features or over the channels at each position, and
flattening."""

from __future__ import annotations

from .base import (GLOBAL, POINTWISE, Arg, Bool, Ctor, Int, Op, ShapeError, fmt_shape, numel,
                   register, spatial)

# torchvision's ConvNeXt applies nn.Linear to the channels-last view of an NCHW
# tensor (Permute, Linear, Permute); this is that, with nn.Linear's weight (out, in),
# bias and state_dict keys, so ConvNeXt's weights load as they are.
CHANNEL_LINEAR = '''\
class ChannelLinear(nn.Linear):
    """nn.Linear over the channels of an NCHW tensor, at every position (ConvNeXt)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = torch.nn.functional.linear(x, self.weight, self.bias)
        return x.permute(0, 3, 1, 2)
'''


@register
class Linear(Op):
    name = "linear"
    aliases = ("fc", "dense")
    family = "linear"
    saved = ("input",)
    doc = "Fully connected layer (nn.Linear); needs a flat input."
    example = ('input [3, 8, 8]\n'
               'flatten linear(10)')
    shape_doc = "F -> features (a flat input only)"
    args = (
        Arg("features", Int(min=1), aliases=("out", "out_features")),
        Arg("bias", Bool(), True),
    )

    def misread(self, positional, keywords, ins):
        # PyTorch's Linear(in_features, out_features): here the input gives the first.
        shape = ins[0] if ins else None
        if len(positional) >= 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                        for v in positional[:2]) and shape is not None:
            count = f"{shape[0]} " if len(shape) == 1 else ""
            return (f"in PyTorch's order (in, out) write `{self.name}({positional[1]})`: the "
                    f"input's {count}features come from the tensor flowing in")
        return None

    def shape(self, a, ins):
        if len(ins[0]) != 1:
            raise ShapeError(f"`linear` needs a flat input, got {fmt_shape(ins[0])}",
                             code="E0303", label=f"input is {fmt_shape(ins[0])}",
                             help="add `flatten` before it")
        return (a["features"],)

    def params(self, a, ins, out):
        return ins[0][0] * a["features"] + (a["features"] if a["bias"] else 0), 0

    def macs(self, a, ins, out):
        return ins[0][0] * numel(out)  # fvcore's aten::linear: in_features per output element

    def flops(self, a, ins, out):
        return numel(out) if a["bias"] else 0  # the bias adds

    def window(self, a):
        return GLOBAL

    def torch(self, a, ins, out):
        return Ctor("Linear", (ins[0][0], a["features"]), {} if a["bias"] else {"bias": False})

    def label(self, a):
        return f"linear {a['features']}"


@register
class ChannelLinear(Linear):  # params, MACs and FLOPs as nn.Linear's
    name = "channel_linear"
    aliases = ()
    doc = ("Fully connected layer over the channels at each position of a CxHxW tensor "
           "(nn.Linear on the channels-last view, as torchvision's ConvNeXt applies it). "
           "It computes what `conv(features, k=1)` computes, but its weight is nn.Linear's "
           "(features x C, not features x C x 1 x 1), so ConvNeXt's weights load into it.")
    example = ('input [96, 56, 56]\n'
               'layer_norm2d channel_linear(384) gelu channel_linear(96)  # ConvNeXt')
    shape_doc = "CxHxW -> features x H x W"

    def shape(self, a, ins):
        _, h, w = spatial(ins[0], self.name)
        return (a["features"], h, w)

    def window(self, a):
        return POINTWISE

    def torch(self, a, ins, out):
        return Ctor("ChannelLinear", (ins[0][0], a["features"]),
                    {} if a["bias"] else {"bias": False}, source=CHANNEL_LINEAR)

    def label(self, a):
        return f"channel linear {a['features']}"


@register
class Flatten(Op):
    name = "flatten"
    family = "linear"
    saved = ()
    view = True
    doc = "Flatten CxHxW to C*H*W features (nn.Flatten)."
    example = ('input [512, 1, 1]\n'
               'flatten linear(10)')
    shape_doc = "CxHxW -> C*H*W"

    def shape(self, a, ins):
        return (numel(ins[0]),)

    def flops(self, a, ins, out):
        return 0  # a view: no arithmetic

    def window(self, a):
        # Each feature is one unit of the map: it sees that unit's field, no more
        # (LeNet's flattened features see 16 pixels); what reads them all is global.
        return POINTWISE

    def torch(self, a, ins, out):
        return Ctor("Flatten")
