"""Element-wise layers: activations, dropout, stochastic depth, identity, softmax.

FLOPs count the elementary operations per element, an exp, log or erf
as one and a tanh as five (two exps, a subtraction, an addition, a
division), as relu (1), sigmoid (4) and tanh (5) always have.
"""

from __future__ import annotations

from .base import (POINTWISE, Arg, Choice, Ctor, Float, Int, Op, ShapeError, fmt_shape, numel,
                   register)


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
    example = ('input [3, 8, 8]\n'
               'conv(8, k=3, p=1) relu')


@register
class Sigmoid(_Elementwise):
    name = "sigmoid"
    torch_cls = "Sigmoid"
    flops_per_element = 4  # exp, add, divide, negate
    doc = "1 / (1 + exp(-x)) (nn.Sigmoid)."
    example = ('input [16]\n'
               'linear(1) sigmoid')


@register
class Tanh(_Elementwise):
    name = "tanh"
    torch_cls = "Tanh"
    flops_per_element = 5
    doc = "Hyperbolic tangent (nn.Tanh)."
    example = ('input [16]\n'
               'linear(8) tanh')


class _SavesInput(_Elementwise):
    saved = ("input",)  # their backward kernels (hardtanh_backward, silu_backward...) read x


@register
class ReLU6(_SavesInput):
    name = "relu6"
    torch_cls = "ReLU6"
    flops_per_element = 2  # max, min
    doc = "min(max(x, 0), 6) (nn.ReLU6)."
    example = ('input [16, 8, 8]\n'
               'conv(96, k=1, bias=false) bn relu6  # MobileNetV2')


@register
class Hardsigmoid(_SavesInput):
    name = "hardsigmoid"
    torch_cls = "Hardsigmoid"
    flops_per_element = 4  # add 3, max, min, divide by 6
    doc = "relu6(x + 3) / 6 (nn.Hardsigmoid)."
    example = ('input [16, 8, 8]\n'
               "global_avgpool conv(16, k=1) hardsigmoid  # MobileNetV3's gate")


@register
class Hardswish(_SavesInput):
    name = "hardswish"
    torch_cls = "Hardswish"
    flops_per_element = 5  # hardsigmoid, times x
    doc = "x * relu6(x + 3) / 6 (nn.Hardswish)."
    example = ('input [3, 32, 32]\n'
               'conv(16, k=3, s=2, p=1, bias=false) bn hardswish  # MobileNetV3')


@register
class SiLU(_SavesInput):
    name = "silu"
    aliases = ("swish",)
    torch_cls = "SiLU"
    flops_per_element = 5  # sigmoid, times x
    doc = "x * sigmoid(x) (nn.SiLU)."
    example = ('input [3, 32, 32]\n'
               'conv(32, k=3, s=2, p=1, bias=false) bn silu  # EfficientNet')


@register
class GELU(_SavesInput):
    name = "gelu"
    torch_cls = "GELU"
    doc = ('x * Phi(x), Phi the normal CDF (nn.GELU); approximate="tanh" uses '
           "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).")
    example = ('input [96]\n'
               'linear(384) gelu linear(96)\n'
               'linear(96) gelu("tanh")')
    args = (Arg("approximate", Choice(("none", "tanh")), "none"),)

    def flops(self, a, ins, out):
        # erf form: divide, erf, add, multiply twice; tanh form: cube (2), multiply,
        # add, multiply, tanh (5), add, multiply twice
        return numel(out) * (5 if a["approximate"] == "none" else 13)

    def torch(self, a, ins, out):
        return Ctor("GELU", (), {} if a["approximate"] == "none" else {"approximate": "tanh"})

    def label(self, a):
        return "gelu" if a["approximate"] == "none" else "gelu tanh"


@register
class LeakyReLU(_SavesInput):
    name = "leaky_relu"
    torch_cls = "LeakyReLU"
    flops_per_element = 2  # compare, multiply
    doc = "x, or negative_slope * x below 0 (nn.LeakyReLU)."
    example = ('input [3, 32, 32]\n'
               'conv(16, k=3, p=1) leaky_relu(0.1)')
    args = (Arg("negative_slope", Float(), 0.01, aliases=("slope",)),)

    def torch(self, a, ins, out):
        return Ctor("LeakyReLU", () if a["negative_slope"] == 0.01 else (a["negative_slope"],))

    def label(self, a):
        return f"leaky_relu {a['negative_slope']:g}"


@register
class ELU(_SavesInput):
    name = "elu"
    torch_cls = "ELU"
    flops_per_element = 4  # compare, exp, subtract, multiply
    doc = "x, or alpha * (exp(x) - 1) below 0 (nn.ELU)."
    example = ('input [3, 32, 32]\n'
               'conv(16, k=3, p=1) elu(alpha=0.5)')
    args = (Arg("alpha", Float(), 1.0),)

    def torch(self, a, ins, out):
        return Ctor("ELU", () if a["alpha"] == 1.0 else (a["alpha"],))


@register
class Mish(_SavesInput):
    name = "mish"
    torch_cls = "Mish"
    flops_per_element = 9  # softplus (exp, add, log), tanh (5), multiply
    doc = "x * tanh(softplus(x)) (nn.Mish)."
    example = ('input [3, 32, 32]\n'
               'conv(16, k=3, p=1) mish')


@register
class PReLU(_SavesInput):
    name = "prelu"
    torch_cls = "PReLU"
    flops_per_element = 2  # compare, multiply
    doc = ("x, or a * x below 0 with a learned (nn.PReLU): one slope shared by every channel, "
           "or one per channel (num_parameters = the input's channels).")
    example = ('input [3, 32, 32]\n'
               'conv(16, k=3, p=1) prelu  # one slope\n'
               'conv(16, k=3, p=1) prelu(16)  # one per channel')
    args = (
        Arg("num_parameters", Int(min=1), 1, doc="1 or the input's channels"),
        Arg("init", Float(), 0.25),
    )

    def shape(self, a, ins):
        channels = ins[0][0]  # nn.PReLU's weight broadcasts over axis 1
        if a["num_parameters"] not in (1, channels):
            raise ShapeError(f"`prelu` has {a['num_parameters']} slopes, which do not broadcast "
                             f"over {channels} channels", code="E0308",
                             label=f"input is {fmt_shape(ins[0])}",
                             help=f"use `prelu` (one slope) or `prelu({channels})`")
        return ins[0]

    def params(self, a, ins, out):
        return a["num_parameters"], 0

    def torch(self, a, ins, out):
        kwargs = {}
        if a["num_parameters"] != 1:
            kwargs["num_parameters"] = a["num_parameters"]
        if a["init"] != 0.25:
            kwargs["init"] = a["init"]
        return Ctor("PReLU", (), kwargs)

    def label(self, a):
        return "prelu" if a["num_parameters"] == 1 else f"prelu {a['num_parameters']}"


@register
class Identity(_Elementwise):
    name = "identity"
    torch_cls = "Identity"
    flops_per_element = 0
    saved = ()
    view = True
    doc = "Passes its input through (nn.Identity)."
    example = ('input [3, 32, 32]\n'
               'identity')


@register
class Dropout(_Elementwise):
    name = "dropout"
    torch_cls = "Dropout"
    saved = ("mask",)
    view = True  # at inference dropout returns its input
    doc = "Zeroes elements with probability p while training (nn.Dropout)."
    example = ('input [256]\n'
               'dropout(0.2) linear(10)')
    training_only = True
    args = (Arg("p", Float(min=0.0, max=1.0), 0.5),)

    def torch(self, a, ins, out):
        return Ctor("Dropout", () if a["p"] == 0.5 else (a["p"],))

    def label(self, a):
        return f"dropout {a['p']:g}"


# torchvision.ops.StochasticDepth, line for line (torch has no such module).
STOCHASTIC_DEPTH = '''\
class StochasticDepth(nn.Module):
    """Zeroes whole samples ("row") or the whole batch ("batch") with probability p while
    training, scaling what survives by 1 / (1 - p); the identity in eval mode (torchvision's
    StochasticDepth, Huang et al., 2016)."""

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival_rate = 1.0 - self.p
        if self.mode == "row":
            size = [x.shape[0]] + [1] * (x.ndim - 1)
        else:
            size = [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device)
        noise = noise.bernoulli_(survival_rate)
        if survival_rate > 0.0:
            noise.div_(survival_rate)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"
'''


@register
class StochasticDepth(_Elementwise):
    name = "stochastic_depth"
    # Keeps a noise of one value per sample (negligible): x * noise saves only the noise.
    saved = ()
    view = True  # at inference it returns its input
    training_only = True  # after the last learnable layer it only zeroes outputs: W0303
    doc = ("Drops a residual branch at random while training (torchvision's StochasticDepth, "
           "Huang et al., 2016): `mode=\"row\"` zeroes each sample's tensor with probability "
           "p, `\"batch\"` the whole batch's, and what survives is scaled by 1 / (1 - p). "
           "The identity in eval mode; no parameters. Put it on the branch, before the `add`.")
    example = ('input [32, 28, 28]\n'
               'add {\n'
               '    path { }\n'
               '    path { conv(32, k=3, p=1) bn relu conv(32, k=3, p=1) bn\n'
               '           stochastic_depth(0.2) }\n'
               '}\n'
               'relu global_avgpool flatten linear(10)')
    args = (
        Arg("p", Float(min=0.0, max=1.0)),
        Arg("mode", Choice(("row", "batch")), "row"),
    )

    def torch(self, a, ins, out):
        return Ctor("StochasticDepth", (a["p"],), {} if a["mode"] == "row" else
                    {"mode": a["mode"]}, source=STOCHASTIC_DEPTH)

    def label(self, a):
        return f"stochastic depth {a['p']:g}" + ("" if a["mode"] == "row" else " batch")


@register
class Softmax(_Elementwise):
    name = "softmax"
    torch_cls = "Softmax"
    flops_per_element = 3  # exp, sum, divide
    doc = "Softmax over channels or features (nn.Softmax(dim=1))."
    example = ('input [64]\n'
               'linear(10) softmax')
    args = (Arg("dim", Int(min=1), 1, doc="axis, counting the batch as 0"),)

    def shape(self, a, ins):
        if a["dim"] > len(ins[0]):
            raise ShapeError(f"`softmax` over axis {a['dim']} of a {fmt_shape(ins[0])} input",
                             code="E0307", label=f"input has {len(ins[0])} axes besides the batch")
        return ins[0]

    def torch(self, a, ins, out):
        return Ctor("Softmax", (), {"dim": a["dim"]})
