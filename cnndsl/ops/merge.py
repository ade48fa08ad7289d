"""Merges of parallel paths: channel concatenation, addition, multiplication."""

from __future__ import annotations

from collections import Counter

from .base import POINTWISE, Op, ShapeError, fmt_shape, numel, register


def _odd_one_out(keys: list) -> int:
    """Index of the input that differs from the most common value."""
    return _odd_ones(keys)[0]


def _odd_ones(keys: list) -> list[int]:
    """Indices of every input that differs from the most common value (the first
    value on a tie)."""
    counts = Counter(keys)
    most = max(counts.values())
    common = next(k for k in keys if counts[k] == most)
    return [i for i, k in enumerate(keys) if k != common]


def _size_mismatch(message: str, code: str, ins: list, keys: list) -> ShapeError:
    """Every path whose size differs from the most common one: the first as the
    culprit, the others in ``also``, and the padding that would make a path that
    shrank fit (a 3x3 conv without padding takes 2 pixels off)."""
    bad = _odd_ones(keys)
    common = keys[next(i for i in range(len(keys)) if i not in bad)]
    help = ""
    first = keys[bad[0]]
    if len(first) == len(common) and len(first) >= 2:
        short = [c - b for b, c in zip(first[-2:], common[-2:])]
        if all(d > 0 and d % 2 == 0 for d in short) and short[0] == short[1]:
            help = (f"this path is {short[0]} pixels smaller: {short[0] // 2} more padding on "
                    f"each side of its layers would fit (`p=1` keeps a 3x3 conv's size)")
    others = "the paths that agree yield" if len(bad) > 1 else "the other paths yield"
    return ShapeError(message, code=code, label=f"this path yields {fmt_shape(ins[bad[0]])}",
                      notes=(f"{others} {fmt_shape(common)}",), help=help,
                      culprit=bad[0], also=tuple(bad[1:]))


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
    example = ('input [16, 8, 8]\n'
               'concat { path { conv(8, k=1) } path { conv(8, k=3, p=1) } }')
    shape_doc = "C1xHxW, C2xHxW, ... -> (C1+C2+...)xHxW; flat inputs: F1+F2+..."

    def shape(self, a, ins):
        ranks = [len(s) for s in ins]
        if len(set(ranks)) > 1:
            bad = _odd_one_out(ranks)
            raise ShapeError("cannot concatenate flat and spatial tensors", code="E0301",
                             label=f"this path yields {fmt_shape(ins[bad])}", culprit=bad)
        rest = [s[1:] for s in ins]
        if len(set(rest)) > 1:
            raise _size_mismatch("cannot concatenate paths with different spatial sizes",
                                 "E0301", ins, rest)
        return (sum(s[0] for s in ins), *ins[0][1:])

    def flops(self, a, ins, out):
        return 0  # a copy

    def forward_source(self, a, inputs):
        return f"torch.cat([{', '.join(inputs)}], 1)"


@register
class Add(_Merge):
    name = "add"
    doc = "Sum paths element-wise (residual connections); shapes must be equal."
    example = ('input [16, 8, 8]\n'
               'add { path { conv(16, k=3, p=1) } path { } }')
    shape_doc = "every path's shape, which must be equal"

    def shape(self, a, ins):
        if len(set(ins)) > 1:
            raise _size_mismatch("cannot add paths of different shapes", "E0302", ins, ins)
        return ins[0]

    def flops(self, a, ins, out):
        return numel(out) * (len(ins) - 1)

    def forward_source(self, a, inputs):
        return " + ".join(inputs)


def broadcast(shapes: list) -> tuple | None:
    """torch's broadcasting of equal-rank shapes (each axis equal or 1), or None."""
    out = []
    for sizes in zip(*shapes):
        wide = {n for n in sizes if n != 1}
        if len(wide) > 1:
            return None
        out.append(wide.pop() if wide else 1)
    return tuple(out)


@register
class Mul(_Merge):
    name = "mul"
    doc = ("Multiply paths element-wise with torch's broadcasting: a Cx1x1 path gates each "
           "channel (squeeze-and-excitation). Its receptive field leaves such a gate out "
           "(see \"Receptive fields\").")
    shape_doc = ("torch broadcasting: every path has the same rank, and on each axis the sizes "
                 "are equal or 1 (CxHxW times Cx1x1 gives CxHxW)")
    example = ("input [16, 8, 8]\n"
               "# squeeze-and-excitation (Hu et al., 2018)\n"
               "mul {\n"
               "    path { }\n"
               "    path { global_avgpool conv(4, k=1) relu conv(16, k=1) sigmoid }\n"
               "}")
    saved = ("input",)  # the gradient of a * b is b (and a)
    broadcasts = True

    def shape(self, a, ins):
        ranks = [len(s) for s in ins]
        out = broadcast(ins) if len(set(ranks)) == 1 else None
        if out is None:
            bad = _odd_one_out(ranks) if len(set(ranks)) > 1 else self._first_clash(ins)
            others = sorted({fmt_shape(s) for i, s in enumerate(ins) if i != bad})
            raise ShapeError("cannot multiply paths whose shapes do not broadcast",
                             code="E0308", label=f"this path yields {fmt_shape(ins[bad])}",
                             notes=(f"the other paths yield {' or '.join(others)}",),
                             help="on every axis the sizes must be equal, or 1 to broadcast",
                             culprit=bad)
        return out

    @staticmethod
    def _first_clash(ins) -> int:
        """The first input that does not broadcast with the ones before it."""
        return next(i for i in range(1, len(ins)) if broadcast(ins[: i + 1]) is None)

    def flops(self, a, ins, out):
        return numel(out) * (len(ins) - 1)

    def field_inputs(self, a, ins, out):
        # A gate broadcast over both spatial axes (a global pool's Cx1x1, as in
        # squeeze-and-excitation) scales every position alike: it depends on the
        # whole input, but counting that would make every layer after the first SE
        # block "global" and hide the local field. The field is that of the paths
        # that vary over space; only when every path is a gate is it theirs.
        local = [i for i, s in enumerate(ins) if len(s) != 3 or s[1:] != (1, 1)
                 or out[1:] == (1, 1)]
        return local or list(range(len(ins)))

    def forward_source(self, a, inputs):
        return " * ".join(inputs)


__all__ = ["Concat", "Add", "Mul", "POINTWISE"]
