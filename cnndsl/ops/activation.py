"""Element-wise layers: activations, dropout, identity, softmax."""

from __future__ import annotations

from .base import POINTWISE, Arg, Ctor, Float, Int, Op, numel, register


class _Elementwise(Op):
    family = "activation"
    torch_cls = ""
    flops_per_element = 1
    shape_doc = "same as the input"
    saved = ("output",)  # relu, sigmoid, tanh, softmax: the gradient is a function of y

    def shape(self, a, ins):
        return ins[0]

    def flops(self, a, ins, out):
        return numel(out) * self.flops_per_element

    def window(self, a):
        return POINTWISE

    def torch(self, a, ins, out):
        return Ctor(self.torch_cls)


@register
class ReLU(_Elementwise):
    name = "relu"
    torch_cls = "ReLU"
    doc = "max(x, 0) (nn.ReLU)."


@register
class Sigmoid(_Elementwise):
    name = "sigmoid"
    torch_cls = "Sigmoid"
    flops_per_element = 4  # exp, add, divide, negate
    doc = "1 / (1 + exp(-x)) (nn.Sigmoid)."


@register
class Tanh(_Elementwise):
    name = "tanh"
    torch_cls = "Tanh"
    flops_per_element = 5
    doc = "Hyperbolic tangent (nn.Tanh)."


@register
class Identity(_Elementwise):
    name = "identity"
    torch_cls = "Identity"
    flops_per_element = 0
    saved = ()
    view = True
    doc = "Passes its input through (nn.Identity)."


@register
class Dropout(_Elementwise):
    name = "dropout"
    torch_cls = "Dropout"
    saved = ("mask",)
    view = True  # at inference dropout returns its input
    doc = "Zeroes elements with probability p while training (nn.Dropout)."
    training_only = True
    args = (Arg("p", Float(min=0.0, max=1.0), 0.5),)

    def torch(self, a, ins, out):
        return Ctor("Dropout", () if a["p"] == 0.5 else (a["p"],))

    def label(self, a):
        return f"dropout {a['p']:g}"


@register
class Softmax(_Elementwise):
    name = "softmax"
    torch_cls = "Softmax"
    flops_per_element = 3  # exp, sum, divide
    doc = "Softmax over channels or features (nn.Softmax(dim=1))."
    args = (Arg("dim", Int(min=1), 1, doc="axis, counting the batch as 0"),)

    def shape(self, a, ins):
        if a["dim"] > len(ins[0]):
            from .base import ShapeError, fmt_shape
            raise ShapeError(f"`softmax` over axis {a['dim']} of a {fmt_shape(ins[0])} input",
                             code="E0307", label=f"input has {len(ins[0])} axes besides the batch")
        return ins[0]

    def torch(self, a, ins, out):
        return Ctor("Softmax", (), {"dim": a["dim"]})
