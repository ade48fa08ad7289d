"""Resampling a feature map: upsampling (nearest, bilinear) and crops.

Both may take their size from another tensor (``to=x``, a
:class:`~cnndsl.ops.base.TensorRef`): the compiled module then reads that
size at run time, so it works at any input size (as torchvision's FCN and
DeepLab heads do). That tensor gives only its size: the receptive field
leaves it out (``field_inputs``).
"""

from __future__ import annotations

from .base import (Arg, ArgError, Bool, Choice, Ctor, Op, OrNone, Padding, Pair, ShapeError,
                   TensorRef, fmt_shape, numel, register, sides, spatial)
from .geometry import Resize, linear_map, nearest_map, offset_map

MODES = ("nearest", "bilinear")


def _reference(op: Op, a: dict, ins: list) -> tuple:
    """The CxHxW shape of the ``to=`` tensor, or a ShapeError pointing at it."""
    ref = ins[a["to"]]
    if len(ref) != 3:
        raise ShapeError(f"`{op.name}(to=...)` needs a CxHxW tensor, got {fmt_shape(ref)} "
                         f"features", code="E0305", label=f"`to` is {fmt_shape(ref)}",
                         culprit=a["to"])
    return ref


def _one_of(op: str, a: dict, first: str, second: str, help: str) -> None:
    given = [name for name in (first, second) if a[name] is not None]
    if len(given) != 1:
        raise ArgError(f"`{op}` takes exactly one of `{first}` and `{second}`, got "
                       f"{'both' if given else 'neither'}", arg=second if given else None,
                       help=help)


@register
class Upsample(Op):
    name = "upsample"
    aliases = ("interpolate",)
    family = "resample"
    saved = ()  # the backward of nearest and bilinear needs only the sizes
    doc = ("Upsample by an integer `scale` per axis, or to the size of another tensor "
           "(`to=x`: a tensor named with `-> x`, or `input`), nearest or bilinear "
           "(nn.Upsample, or F.interpolate(size=x.shape[-2:]) read at run time). "
           "`align_corners` (bilinear only) has torch's meaning, false by default.")
    example = ('input [3, 64, 64]\n'
               'conv(16, k=3, s=4, p=1)  # 16x16\n'
               'upsample(2)  # nearest: 32x32\n'
               'upsample(2, mode="bilinear", align_corners=true)\n'
               'upsample(mode="bilinear", to=input)  # back to 64x64, FCN\'s head')
    shape_doc = "CxHxW -> C x (H*scale_h) x (W*scale_w), or C x the `to` tensor's height and width"
    args = (
        Arg("scale", OrNone(Pair(min=1)), None, aliases=("scale_factor",),
            doc="int or (h, w); or `to`"),
        Arg("mode", Choice(MODES), "nearest"),
        Arg("align_corners", OrNone(Bool()), None, doc="bilinear only; false by default"),
        Arg("to", OrNone(TensorRef()), None, doc="a tensor whose size the output takes"),
    )

    def validate(self, a):
        _one_of(self.name, a, "scale", "to", "`scale=2`, or `to=x` for the size of a tensor "
                "named with `-> x`")
        if a["mode"] == "bilinear":
            a["align_corners"] = bool(a["align_corners"])
        elif a["align_corners"] is not None:
            raise ArgError('`align_corners` is only for mode="bilinear"', arg="align_corners",
                           help="remove it, or interpolate with mode=\"bilinear\"")

    def shape(self, a, ins):
        c, h, w = spatial(ins[0], self.name)
        if a["to"] is not None:
            return (c, *_reference(self, a, ins)[1:])
        return (c, h * a["scale"][0], w * a["scale"][1])

    def flops(self, a, ins, out):
        # fvcore's count: a copy per output element, or 4 for the bilinear weights
        return numel(out) * (4 if a["mode"] == "bilinear" else 1)

    def index_map(self, a, ins, out):
        sizes = zip(ins[0][1:], out[1:])
        if a["mode"] == "nearest":
            scales = (None, None) if a["to"] is not None else a["scale"]
            return tuple(nearest_map(n, m, f) for (n, m), f in zip(sizes, scales))
        return tuple(linear_map(n, m, a["align_corners"]) for n, m in sizes)

    def field_inputs(self, a, ins, out):
        return [0]  # the `to` tensor gives only its size

    def resize(self, a, axis):
        return Resize(source=a["to"]) if a["to"] is not None else Resize(mul=a["scale"][axis])

    def _options(self, a) -> str:
        text = f"mode={a['mode']!r}"
        return text + (f", align_corners={a['align_corners']}" if a["mode"] == "bilinear" else "")

    def torch(self, a, ins, out):
        if a["to"] is not None:
            return None  # functional: the size is read at run time (forward_source)
        kwargs = {"scale_factor": float(a["scale"][0]) if a["scale"][0] == a["scale"][1]
                  else tuple(float(s) for s in a["scale"]), "mode": a["mode"]}
        if a["mode"] == "bilinear":
            kwargs["align_corners"] = a["align_corners"]
        return Ctor("Upsample", (), kwargs)

    def forward_source(self, a, inputs):
        x, ref = inputs[0], inputs[a["to"]]
        return (f"torch.nn.functional.interpolate({x}, size={ref}.shape[-2:], "
                f"{self._options(a)})")

    def label(self, a):
        mode = "" if a["mode"] == "nearest" else " bilinear"
        if a["to"] is not None:
            return f"upsample{mode} to size"
        sh, sw = a["scale"]
        return f"upsample x{sh}{mode}" if sh == sw else f"upsample x{sh}x{sw}{mode}"


@register
class Crop(Op):
    name = "crop"
    family = "resample"
    saved = ()
    view = True  # a slice of its input
    doc = ("Cut a feature map down: `crop(to=x)` to the centre with the height and width of "
           "tensor `x` (floor((n - t) / 2) rows and columns off the top and left, so an odd "
           "margin's extra one comes off the bottom and right: the original U-Net's skip "
           "crop; torchvision's CenterCrop takes round((n - t) / 2), which Python rounds half "
           "to even, so its extra row goes to the top for some margins), or `crop(p)` "
           "removing fixed rows and columns: `p`, `(h, w)` or `((top, bottom), (left, right))`.")
    example = ('input [8, 64, 64]\n'
               'conv(8, k=3) -> skip  # 62x62\n'
               'upsample(2) conv(8, k=3)  # 122x122\n'
               'crop(to=skip)  # the centre 62x62: 30 rows and columns off each side\n'
               'crop(((1, 2), (0, 3)))  # 59x59')
    shape_doc = ("CxHxW -> C x the `to` tensor's height and width (at most H and W), or "
                 "Cx(H - top - bottom)x(W - left - right)")
    args = (
        Arg("padding", OrNone(Padding(same=False)), None, aliases=("p",),
            doc="rows and columns to remove; or `to`"),
        Arg("to", OrNone(TensorRef()), None, doc="a tensor whose size the output takes"),
    )

    def validate(self, a):
        _one_of(self.name, a, "padding", "to", "`crop(to=x)` for the size of a tensor named "
                "with `-> x`, or `crop(p)` to remove p rows and columns on each side")

    def shape(self, a, ins):
        c, h, w = spatial(ins[0], self.name)
        if a["to"] is not None:
            _, th, tw = _reference(self, a, ins)
            if th > h or tw > w:
                raise ShapeError(f"cannot crop a {h}x{w} map to {th}x{tw}", code="E0309",
                                 label=f"input is {fmt_shape(ins[0])}",
                                 help="crop to a smaller tensor, or crop a larger one")
            return (c, th, tw)
        (top, bottom), (left, right) = sides(a["padding"])
        if top + bottom >= h or left + right >= w:
            raise ShapeError(f"cannot remove {top + bottom} rows and {left + right} columns "
                             f"from a {h}x{w} map", code="E0309",
                             label=f"input is {fmt_shape(ins[0])}", help="crop less")
        return (c, h - top - bottom, w - left - right)

    def flops(self, a, ins, out):
        return 0  # a view

    def _offsets(self, a, ins, out) -> tuple[int, int]:
        if a["to"] is not None:
            return tuple((n - t) // 2 for n, t in zip(ins[0][1:], out[1:]))
        return tuple(before for before, _ in sides(a["padding"]))

    def index_map(self, a, ins, out):
        return tuple(offset_map(o) for o in self._offsets(a, ins, out))

    def field_inputs(self, a, ins, out):
        return [0]  # the `to` tensor gives only its size

    def resize(self, a, axis):
        if a["to"] is not None:
            return Resize(source=a["to"], fits=True)
        return Resize(add=-sum(sides(a["padding"])[axis]))

    def torch(self, a, ins, out):
        return None  # a slice (forward_source)

    def forward_source(self, a, inputs):
        x = inputs[0]
        if a["to"] is not None:
            ref = inputs[a["to"]]
            axes = [f"({x}.shape[{i}] - {ref}.shape[{i}]) // 2:({x}.shape[{i}] + "
                    f"{ref}.shape[{i}]) // 2" for i in (-2, -1)]
        else:
            axes = [f"{before}:" + (f"{x}.shape[{i}] - {after}" if after else "")
                    for i, (before, after) in zip((-2, -1), sides(a["padding"]))]
        return f"{x}[:, :, {axes[0]}, {axes[1]}]"

    def label(self, a):
        if a["to"] is not None:
            return "crop to size"
        return "crop " + str(a["padding"]).replace(" ", "")


__all__ = ["Upsample", "Crop", "Ctor"]
