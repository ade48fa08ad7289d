"""Channel bookkeeping: shuffling channels between groups, taking a slice of them.

With these a ShuffleNetV2 unit is written ``concat { path { chunk(2, 0) }
path { chunk(2, 1) conv... } } channel_shuffle(2)``.
"""

from __future__ import annotations

from .base import POINTWISE, Arg, ArgError, Ctor, Int, Op, ShapeError, register, spatial


def _divisible(c: int, by: int, what: str) -> None:
    if c % by:
        raise ShapeError(f"input channels ({c}) must be divisible by {what} ({by})", code="E0306",
                         label=f"input has {c} channels")


@register
class ChannelShuffle(Op):
    name = "channel_shuffle"
    family = "channel"
    saved = ()  # a permutation: its gradient is the inverse permutation
    doc = ("Interleave the channels of groups (nn.ChannelShuffle, ShuffleNet): channel "
           "g * (C/groups) + i moves to i * groups + g.")
    example = ('input [116, 28, 28]\n'
               '# a ShuffleNetV2 unit\n'
               'concat {\n'
               '    path { chunk(2, 0) }\n'
               '    path { chunk(2, 1)\n'
               '           conv(58, k=1, bias=false) bn relu\n'
               '           conv(58, k=3, p=1, groups=58, bias=false) bn\n'
               '           conv(58, k=1, bias=false) bn relu }\n'
               '}\n'
               'channel_shuffle(2)')
    shape_doc = "same as the input (CxHxW); C divisible by groups"
    args = (Arg("groups", Int(min=1), aliases=("g",)),)

    def shape(self, a, ins):
        c, _, _ = spatial(ins[0], self.name)
        _divisible(c, a["groups"], "groups")
        return ins[0]

    def flops(self, a, ins, out):
        return 0  # a copy

    def window(self, a):
        return POINTWISE

    def torch(self, a, ins, out):
        return Ctor("ChannelShuffle", (a["groups"],))

    def label(self, a):
        return f"channel shuffle {a['groups']}"


@register
class Chunk(Op):
    name = "chunk"
    family = "channel"
    saved = ()
    view = True  # a slice of the input's storage, as torch.chunk gives
    doc = ("Part `index` of `parts` equal slices of the channels (x.chunk(parts, 1)[index], "
           "a view): channels index * C/parts up to (index + 1) * C/parts. On a flat tensor, "
           "of its features.")
    example = ('input [32, 8, 8]\n'
               'chunk(2, 1) conv(16, k=1)  # the second half of the channels')
    shape_doc = "CxHxW -> (C/parts)xHxW, F -> F/parts; C (or F) divisible by parts"
    args = (
        Arg("parts", Int(min=1), aliases=("chunks",)),
        Arg("index", Int(min=0), aliases=("i",)),
    )

    def validate(self, a):
        if a["index"] >= a["parts"]:
            raise ArgError(f"index {a['index']} of {a['parts']} parts: the last is "
                           f"{a['parts'] - 1}", arg="index")

    def shape(self, a, ins):
        c = ins[0][0]
        _divisible(c, a["parts"], "parts")
        return (c // a["parts"], *ins[0][1:])

    def flops(self, a, ins, out):
        return 0  # a view

    def window(self, a):
        return POINTWISE

    def torch(self, a, ins, out):
        return None  # functional: a slice in forward

    def forward_source(self, a, inputs):
        return f"{inputs[0]}.chunk({a['parts']}, 1)[{a['index']}]"

    def label(self, a):
        return f"chunk {a['index']} of {a['parts']}"
