"""Scaling: by a constant (Inception-ResNet's residual scaling, ``x * 0.17``) and by a
learned factor per channel (ConvNeXt's layer scale, a bare ``nn.Parameter``)."""

from __future__ import annotations

import math

from .base import POINTWISE, Arg, ArgError, Float, Op, Param, numel, register


@register
class Scale(Op):
    name = "scale"
    family = "scale"
    saved = ()  # the gradient of x * c is c: no tensor kept
    doc = ("Multiply by a constant factor (x * factor, no parameters): the residual scaling "
           "of Inception-ResNet.")
    example = ('input [320, 35, 35]\n'
               "# Inception-ResNet's scaled residual\n"
               'add { path { } path { conv(320, k=1) scale(0.17) } }\n'
               'relu')
    shape_doc = "same as the input"
    args = (Arg("factor", Float()),)

    def validate(self, a):
        _finite(self.name, "factor", a)

    def shape(self, a, ins):
        return ins[0]

    def flops(self, a, ins, out):
        return numel(out)

    def window(self, a):
        return POINTWISE

    def torch(self, a, ins, out):
        return None  # functional: one multiplication in forward

    def forward_source(self, a, inputs):
        return f"{inputs[0]} * {a['factor']!r}"

    def label(self, a):
        return f"scale {a['factor']:g}"


def _finite(op: str, name: str, a: dict) -> None:
    if not math.isfinite(a[name]):
        raise ArgError(f"argument `{name}` of `{op}` must be finite, got {a[name]}", arg=name)


@register
class LayerScale(Op):
    name = "layer_scale"
    family = "scale"
    saved = ("input",)  # the gradient of the factors is x (of x, the factors: negligible)
    doc = ("Multiply each channel by a learned factor, every factor starting at `init` "
           "(ConvNeXt's layer scale, Touvron et al., 2021). The factors are a bare "
           "`nn.Parameter` of shape Cx1x1 (F on a flat input), registered as torchvision's "
           "CNBlock registers its own: on the module of the scope the layer sits in, under "
           "the layer's name, so it precedes that scope's layers in `state_dict`.")
    example = ('input [96, 56, 56]\n'
               "# a ConvNeXt block: `as layer_scale` names the parameter as torchvision does\n"
               'add {\n'
               '    path { }\n'
               '    path block { conv(96, k=7, p=3, groups=96) layer_norm2d\n'
               '                 channel_linear(384) gelu channel_linear(96)\n'
               '                 layer_scale(1e-6) as layer_scale stochastic_depth(0.1) }\n'
               '}\n'
               'layer_norm2d conv(192, k=2, s=2)  # on to the next stage')
    shape_doc = "same as the input; parameters Cx1x1 (F on a flat input)"
    args = (Arg("init", Float(), 1e-6),)

    def validate(self, a):
        _finite(self.name, "init", a)

    def shape(self, a, ins):
        return ins[0]

    def params(self, a, ins, out):
        return ins[0][0], 0

    def flops(self, a, ins, out):
        return numel(out)

    def window(self, a):
        return POINTWISE

    def torch(self, a, ins, out):
        # one factor per channel, broadcast over the positions (and the batch)
        return Param((ins[0][0],) + (1,) * (len(ins[0]) - 1), a["init"])

    def forward_source(self, a, inputs):
        x, factors = inputs
        return f"{x} * {factors}"

    def label(self, a):
        return "layer scale"
