"""The network's input: the graph's source node, not a layer users call."""

from __future__ import annotations

from .base import POINTWISE, Op


class Input(Op):
    name = "input"
    family = "input"
    saved = ()
    doc = "The network input; its shape comes from the `input [...]` line."

    def shape(self, a, ins):
        return a["shape"]

    def flops(self, a, ins, out):
        return 0

    def window(self, a):
        return POINTWISE

    def torch(self, a, ins, out):
        return None

    def forward_source(self, a, inputs):
        return "x"

    def label(self, a):
        return "input"


INPUT = Input()
