"""Merges of parallel paths: channel concatenation and addition."""

from __future__ import annotations

from collections import Counter

from .base import POINTWISE, Op, ShapeError, fmt_shape, numel, register


def _odd_one_out(keys: list) -> int:
    """Index of the input that differs from the most common value."""
    common = Counter(keys).most_common(1)[0][0]
    return next(i for i, k in enumerate(keys) if k != common)


class _Merge(Op):
    family = "merge"
    many_inputs = True
    saved = ()  # the gradient of a sum or a concatenation needs no tensor

    def window(self, a):
        return POINTWISE

    def torch(self, a, ins, out):
        return None


@register
class Concat(_Merge):
    name = "concat"
    doc = "Concatenate paths along channels (torch.cat(dim=1)); spatial sizes must agree."
    shape_doc = "C1xHxW, C2xHxW, ... -> (C1+C2+...)xHxW; flat inputs: F1+F2+..."

    def shape(self, a, ins):
        ranks = [len(s) for s in ins]
        if len(set(ranks)) > 1:
            bad = _odd_one_out(ranks)
            raise ShapeError("cannot concatenate flat and spatial tensors", code="E0301",
                             label=f"this path yields {fmt_shape(ins[bad])}", culprit=bad)
        rest = [s[1:] for s in ins]
        if len(set(rest)) > 1:
            bad = _odd_one_out(rest)
            others = sorted({fmt_shape(r) for i, r in enumerate(rest) if r != rest[bad]})
            raise ShapeError("cannot concatenate paths with different spatial sizes",
                             code="E0301", label=f"this path yields {fmt_shape(ins[bad])}",
                             notes=(f"the other paths yield {' or '.join(others)}",),
                             culprit=bad)
        return (sum(s[0] for s in ins), *ins[0][1:])

    def flops(self, a, ins, out):
        return 0  # a copy

    def forward_source(self, a, inputs):
        return f"torch.cat([{', '.join(inputs)}], 1)"


@register
class Add(_Merge):
    name = "add"
    doc = "Sum paths element-wise (residual connections); shapes must be equal."
    shape_doc = "every path's shape, which must be equal"

    def shape(self, a, ins):
        if len(set(ins)) > 1:
            bad = _odd_one_out(ins)
            others = sorted({fmt_shape(s) for s in ins if s != ins[bad]})
            raise ShapeError("cannot add paths of different shapes", code="E0302",
                             label=f"this path yields {fmt_shape(ins[bad])}",
                             notes=(f"the other paths yield {' or '.join(others)}",),
                             culprit=bad)
        return ins[0]

    def flops(self, a, ins, out):
        return numel(out) * (len(ins) - 1)

    def forward_source(self, a, inputs):
        return " + ".join(inputs)


__all__ = ["Concat", "Add", "POINTWISE"]
