"""Normalization: batch norm and local response norm."""

from __future__ import annotations

from .base import POINTWISE, Arg, Bool, Ctor, Float, Int, Op, Window, numel, register


@register
class BatchNorm(Op):
    name = "batchnorm"
    aliases = ("bn", "batch_norm")
    family = "norm"
    saved = ("input",)  # plus per-channel mean and inverse std, negligible
    doc = "Batch normalization over channels (nn.BatchNorm2d, or BatchNorm1d on features)."
    shape_doc = "same as the input"
    args = (
        Arg("eps", Float(min=0.0, max=1.0), 1e-5),
        Arg("momentum", Float(min=0.0, max=1.0), 0.1),
        Arg("affine", Bool(), True),
    )

    def shape(self, a, ins):
        return ins[0]

    def params(self, a, ins, out):
        c = ins[0][0]
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
        if a["momentum"] != 0.1:
            kwargs["momentum"] = a["momentum"]
        if not a["affine"]:
            kwargs["affine"] = False
        return Ctor("BatchNorm2d" if len(ins[0]) == 3 else "BatchNorm1d", (ins[0][0],), kwargs)

    def label(self, a):
        return "batchnorm"


@register
class LocalResponseNorm(Op):
    name = "lrn"
    aliases = ("local_response_norm",)
    family = "norm"
    saved = ("input", "output")
    doc = "Local response normalization across channels (nn.LocalResponseNorm)."
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


__all__ = ["BatchNorm", "LocalResponseNorm", "Window"]
