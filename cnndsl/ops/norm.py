"""Normalization: batch, group, instance and layer norm, local response norm.

FLOPs follow fvcore: batch norm at inference one per element to normalize
and one more for the affine; the norms that compute their statistics from
the input itself (group, instance, layer norm) fvcore's 4 per element, 5
with the affine.
"""

from __future__ import annotations

from .base import (POINTWISE, Arg, ArgError, Bool, Ctor, Float, Int, Op, ShapeError, Window,
                   numel, register, spatial)

# torchvision's LayerNorm2d (ConvNeXt): layer norm over the channels of an NCHW
# tensor, as nn.LayerNorm(C) on the channels-last view; weight and bias as nn.LayerNorm's.
LAYER_NORM_2D = '''\
class LayerNorm2d(nn.LayerNorm):
    """nn.LayerNorm over the channels of an NCHW tensor, at every position (ConvNeXt)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = torch.nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                                           self.eps)
        return x.permute(0, 3, 1, 2)
'''

# torchvision's FrozenBatchNorm2d (torchvision.ops.misc; resnet_fpn_backbone's default norm):
# batch norm whose statistics and affine are buffers, in nn.BatchNorm2d's order less the
# batch counter, so transfer_weights pairs it with torchvision's by position.
FROZEN_BATCH_NORM = '''\
class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and affine, all four buffers (torchvision's)."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        bias = self.bias - self.running_mean * scale
        return x * scale.reshape(shape) + bias.reshape(shape)
'''


class _StatsNorm(Op):
    """A norm whose statistics come from the input itself, at training and inference."""

    family = "norm"
    saved = ("input",)  # plus per-group mean and inverse std, negligible
    shape_doc = "same as the input (CxHxW)"

    def shape(self, a, ins):
        spatial(ins[0], self.name)
        return ins[0]

    def params(self, a, ins, out):
        return (2 * ins[0][0] if a["affine"] else 0), 0

    def flops(self, a, ins, out):
        return numel(out) * (5 if a["affine"] else 4)  # fvcore's norm_flop_counter

    def window(self, a):
        return POINTWISE  # statistics over positions make it global in truth; see the docs

    def label(self, a):
        return self.name.replace("_", " ")


@register
class BatchNorm(Op):
    name = "batchnorm"
    aliases = ("bn", "batch_norm")
    family = "norm"
    saved = ("input",)  # plus per-channel mean and inverse std, negligible
    doc = ("Batch normalization over channels (nn.BatchNorm2d, or BatchNorm1d on features); "
           "`frozen=true` is torchvision's FrozenBatchNorm2d: statistics and affine fixed, "
           "four buffers and no parameters (detection backbones).")
    example = ('input [3, 8, 8]\n'
               'conv(16, k=3, p=1, bias=false) bn relu\n'
               'conv(16, k=3, p=1, bias=false) bn(frozen=true) relu')
    shape_doc = "same as the input"
    args = (
        Arg("eps", Float(min=0.0, max=1.0), 1e-5),
        Arg("momentum", Float(min=0.0, max=1.0), 0.1),
        Arg("affine", Bool(), True),
        Arg("frozen", Bool(), False),
    )

    def misread(self, positional, keywords, ins):
        # PyTorch's BatchNorm2d(num_features): here the features come from the input.
        if positional and isinstance(positional[0], int) and not isinstance(positional[0], bool) \
                and positional[0] >= 1:
            have = f" ({ins[0][0]})" if ins and ins[0] else ""
            return (f"`{self.name}` takes its channels from the tensor flowing in{have}: write "
                    f"`bn`; its first argument is `eps`, not the channels (PyTorch's order)")
        return None

    def validate(self, a):
        if a["frozen"] and not a["affine"]:
            raise ArgError("a frozen batch norm always has its affine (weight and bias buffers)",
                           arg="affine", help="drop `affine=false`, or `frozen=true`")

    def saves(self, a):
        return () if a["frozen"] else self.saved  # a fixed scale: the gradient needs no input

    def shape(self, a, ins):
        return ins[0]

    def params(self, a, ins, out):
        c = ins[0][0]
        if a["frozen"]:  # weight, bias, running_mean, running_var: buffers all
            return 0, 4 * c
        # running_mean, running_var and the num_batches_tracked counter
        return (2 * c if a["affine"] else 0), 2 * c + 1

    def flops(self, a, ins, out):
        # fvcore at inference: one per element to normalize, one more for the affine
        # scale-and-shift (torchvision.json: resnet18 batch_norm = 2 x its bn elements)
        return numel(out) * (2 if a["affine"] else 1)

    def window(self, a):
        return POINTWISE

    def torch(self, a, ins, out):
        kwargs = {}
        if a["eps"] != 1e-5:
            kwargs["eps"] = a["eps"]
        if a["frozen"]:
            return Ctor("FrozenBatchNorm2d", (ins[0][0],), kwargs, source=FROZEN_BATCH_NORM)
        if a["momentum"] != 0.1:
            kwargs["momentum"] = a["momentum"]
        if not a["affine"]:
            kwargs["affine"] = False
        return Ctor("BatchNorm2d" if len(ins[0]) == 3 else "BatchNorm1d", (ins[0][0],), kwargs)

    def label(self, a):
        return "frozen batchnorm" if a["frozen"] else "batchnorm"


@register
class LocalResponseNorm(Op):
    name = "lrn"
    aliases = ("local_response_norm",)
    family = "norm"
    saved = ("input", "output")
    doc = "Local response normalization across channels (nn.LocalResponseNorm)."
    example = ('input [96, 27, 27]\n'
               'lrn(5, alpha=1e-4, beta=0.75, k=2)  # AlexNet')
    shape_doc = "same as the input"
    args = (
        Arg("size", Int(min=1)),
        Arg("alpha", Float(), 1e-4),
        Arg("beta", Float(), 0.75),
        Arg("k", Float(), 1.0),
    )

    def shape(self, a, ins):
        return ins[0]

    def flops(self, a, ins, out):
        return numel(out) * (a["size"] + 3)  # window sum of squares, scale, power, divide

    def window(self, a):
        return POINTWISE  # mixes channels, not positions

    def torch(self, a, ins, out):
        kwargs = {k: a[k] for k, d in (("alpha", 1e-4), ("beta", 0.75), ("k", 1.0)) if a[k] != d}
        return Ctor("LocalResponseNorm", (a["size"],), kwargs)

    def label(self, a):
        return f"lrn {a['size']}"


def _eps(a, default) -> dict:
    return {} if a["eps"] == default else {"eps": a["eps"]}


@register
class GroupNorm(_StatsNorm):
    name = "group_norm"
    aliases = ("groupnorm",)
    doc = ("Group normalization (nn.GroupNorm): mean and variance over each group of "
           "channels and every position of one sample.")
    example = ('input [3, 32, 32]\n'
               'conv(32, k=3, p=1) group_norm(8) relu')
    shape_doc = "same as the input (CxHxW); C divisible by groups"
    args = (
        Arg("groups", Int(min=1), aliases=("num_groups", "g")),
        Arg("eps", Float(min=0.0, max=1.0), 1e-5),
        Arg("affine", Bool(), True),
    )

    def shape(self, a, ins):
        c, _, _ = spatial(ins[0], self.name)
        if c % a["groups"]:
            raise ShapeError(f"input channels ({c}) must be divisible by groups ({a['groups']})",
                             code="E0306", label=f"input has {c} channels")
        return ins[0]

    def torch(self, a, ins, out):
        kwargs = _eps(a, 1e-5)
        if not a["affine"]:
            kwargs["affine"] = False
        return Ctor("GroupNorm", (a["groups"], ins[0][0]), kwargs)

    def label(self, a):
        return f"group norm {a['groups']}"


@register
class InstanceNorm(_StatsNorm):
    name = "instance_norm"
    aliases = ("instancenorm",)
    doc = ("Instance normalization (nn.InstanceNorm2d): mean and variance over the positions "
           "of each channel of one sample; its defaults are torch's (no affine, no running "
           "statistics).")
    example = ('input [3, 64, 64]\n'
               'conv(32, k=7, p=3) instance_norm relu')
    args = (
        Arg("eps", Float(min=0.0, max=1.0), 1e-5),
        Arg("affine", Bool(), False),
        Arg("track_running_stats", Bool(), False, aliases=("running_stats",)),
    )

    def shape(self, a, ins):
        c, h, w = spatial(ins[0], self.name)
        if h * w == 1 and not a["track_running_stats"]:
            raise ShapeError("`instance_norm` of a 1x1 map: its statistics need more than one "
                             "position", code="E0309", label=f"input is {c}x1x1",
                             help="normalize before the map shrinks to 1x1, or track running "
                             "statistics")
        return ins[0]

    def params(self, a, ins, out):
        c = ins[0][0]
        # like batch norm's: running_mean, running_var and num_batches_tracked
        return (2 * c if a["affine"] else 0), (2 * c + 1 if a["track_running_stats"] else 0)

    def torch(self, a, ins, out):
        kwargs = _eps(a, 1e-5)
        for key in ("affine", "track_running_stats"):
            if a[key]:
                kwargs[key] = True
        return Ctor("InstanceNorm2d", (ins[0][0],), kwargs)


@register
class LayerNorm2d(_StatsNorm):
    name = "layer_norm2d"
    aliases = ("layernorm2d",)
    doc = ("Layer normalization over the channels at each position of a CxHxW tensor "
           "(torchvision's LayerNorm2d, ConvNeXt's: nn.LayerNorm(C) on the channels-last "
           "view). The default eps is ConvNeXt's.")
    example = ('input [3, 224, 224]\n'
               "conv(96, k=4, s=4) layer_norm2d  # ConvNeXt's stem")
    args = (
        Arg("eps", Float(min=0.0, max=1.0), 1e-6),
        Arg("affine", Bool(), True, aliases=("elementwise_affine",)),
    )

    def torch(self, a, ins, out):
        kwargs = {"eps": a["eps"]}  # always written: nn.LayerNorm's default is 1e-5
        if not a["affine"]:
            kwargs["elementwise_affine"] = False
        return Ctor("LayerNorm2d", (ins[0][0],), kwargs, source=LAYER_NORM_2D)

    def label(self, a):
        return "layer norm"


__all__ = ["BatchNorm", "LocalResponseNorm", "GroupNorm", "InstanceNorm", "LayerNorm2d", "Window"]
