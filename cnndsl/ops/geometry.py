"""Which input units an output unit reads, per axis: an op's geometry.

A :class:`Window` is what a sliding window (conv, pool, pad) declares: its
extent, stride, padding and tap spacing per axis, with the output length
torch computes (``window_out``, ``same_padding``).

A sliding window (conv, pool, pad) reads, for output unit ``j``, the input
units ``j*s - p, j*s - p + d, ..., j*s - p + (k-1)*d``: an affine map of
``j``. Upsampling and transposed convolution are not affine: nearest x2
sends units ``2m`` and ``2m + 1`` to input unit ``m``; bilinear reads one
or two units; a transposed conv with stride ``s`` reads a set of units
that depends on ``j mod s``. Every such map is periodic: with a period
``U`` (output units) and a step ``V`` (input units), unit ``q*U + t``
reads what unit ``t`` reads, moved ``q*V`` units on. An :class:`IndexMap`
is that period's taps, each an arithmetic progression ``first, first +
spacing, ..., last`` of input units, or None for a unit that reads
nothing (a transposed conv with kernel below its stride).

The receptive-field pass composes these maps (cnndsl/passes/receptive_field.py);
an op answers ``Op.index_map``, built from its window by default.
Everything is exact rational arithmetic: torch computes interpolation
coordinates in floating point, which agrees with it where the scale is a
power of two (docs/language.md, "Receptive fields").
"""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import dataclass
from fractions import Fraction

Taps = tuple  # (first, last, spacing) of the input units one output unit reads


# ---------------------------------------------------------- sliding windows


@dataclass(frozen=True)
class Window:
    """How one output unit sees its input, per axis (h, w): kernel extent
    (dilation included), stride and padding (Araujo et al., Distill 2019).

    ``p`` is the padding before the input (top, left): it alone places the
    field. ``p_end`` is the padding after it (bottom, right) where that
    differs from ``p``; it changes only the output length. A ``same``
    window pads as TensorFlow does, by an amount that depends on the input
    size: :meth:`at` makes it explicit for one size.
    """

    k: tuple[int, int] = (1, 1)
    s: tuple[int, int] = (1, 1)
    p: tuple[int, int] = (0, 0)
    ceil: bool = False  # output length rounds up (pools' ceil_mode): sizes, not fields
    p_end: tuple[int, int] | None = None
    same: bool = False
    d: tuple[int, int] = (1, 1)  # spacing of the taps (dilation): which units inside k are read

    @property
    def end(self) -> tuple[int, int]:
        """Padding after the input (bottom, right)."""
        return self.p if self.p_end is None else self.p_end

    def at(self, size) -> "Window":
        """This window on an input of ``size`` (h, w): ``same`` padding made explicit."""
        if not self.same:
            return self
        before, after = zip(*(same_padding(n, k, s) for n, k, s in zip(size, self.k, self.s)))
        return Window(self.k, self.s, before, self.ceil, None if before == after else after,
                      d=self.d)

    @functools.cached_property
    def maps(self) -> tuple:
        """Per axis (h, w), the :class:`IndexMap` of the units each output unit reads (of
        a window whose padding is explicit: not ``same``). Made once per window: the
        layers that share a window share its maps."""
        return tuple(map(window_map, self.k, self.s, self.p, self.d))

    def total_padding(self, axis: int) -> int:
        """The padding in the output length floor((n + total - k) / s) + 1, for every n:
        both sides, or k - 1 for ``same`` (whose output is ceil(n / s))."""
        return self.k[axis] - 1 if self.same else self.p[axis] + self.end[axis]

    def out(self, axis: int, n: int) -> int:
        """Output length on an input of length n along ``axis`` (0: height, 1: width)."""
        if self.same:
            return -(-n // self.s[axis])
        return window_out(n, self.k[axis], self.s[axis], self.p[axis], 1, self.ceil,
                          self.end[axis])


POINTWISE = Window()
GLOBAL = "global"  # the output sees the whole input (global pool, linear, flatten)


def extent(k: int, d: int = 1) -> int:
    """The span of a kernel of size k with dilation d: d*(k-1)+1."""
    return d * (k - 1) + 1


def window_out(n: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False,
               p_end: int | None = None) -> int:
    """Output length of a sliding window, exactly as torch computes it.

    The seed's rule floor((n + 2p - k + s) / s) with the kernel's dilated
    extent d*(k-1)+1 (with ``p_end``, the padding after the input where it
    differs: n + p + p_end); with ceil mode, torch rounds up but drops a
    last window that would start inside the right padding.
    """
    span = n + p + (p if p_end is None else p_end) - extent(k, d)
    out = (span + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def same_padding(n: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's "SAME" padding (before, after) of an axis of length n for a
    window of extent k and stride s: the output is ceil(n / s), the padding
    what that needs, the odd pixel after the input."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


# ------------------------------------------------------------ index maps


@dataclass(frozen=True)
class IndexMap:
    """Output unit ``q*period + t`` reads ``phases[t]`` moved by ``q*step``."""

    step: int
    phases: tuple  # per output unit t < period: Taps, or None (reads nothing)

    @property
    def period(self) -> int:
        return len(self.phases)

    @property
    def stride(self) -> Fraction:
        """Input units per output unit."""
        return Fraction(self.step, self.period)

    def taps(self, j: int) -> Taps | None:
        q, t = divmod(j, self.period)
        phase = self.phases[t]
        if phase is None:
            return None
        first, last, spacing = phase
        return first + q * self.step, last + q * self.step, spacing


@functools.lru_cache(maxsize=1024)
def window_map(extent: int, stride: int, before: int, dilation: int = 1) -> IndexMap:
    """A sliding window of dilated ``extent``, ``stride`` and padding ``before`` (a few
    windows serve a whole network: each map is made once)."""
    return IndexMap(stride, ((-before, extent - 1 - before, dilation),))


def _f32(x: float) -> float:
    """``x`` rounded to the nearest float32 (a product of two float32 values is exact in
    a double, so rounding it once gives float32 arithmetic's result)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def _f32_ratio(a: int, b: int) -> float:
    """a / b divided in float32 (correctly rounded: a double's quotient rounded again to
    float32 can miss it by one unit in the last place)."""
    near = _f32(a / b)
    bits = struct.unpack("I", struct.pack("f", near))[0]
    candidates = [struct.unpack("f", struct.pack("I", x))[0] for x in (bits - 1, bits, bits + 1)]
    exact = Fraction(a, b)
    return min(candidates, key=lambda c: (abs(Fraction(c) - exact),
                                          struct.unpack("I", struct.pack("f", c))[0] % 2))


def torch_nearest(j: int, n_in: int, n_out: int, scale: int | None = None) -> int:
    """The input unit torch's "nearest" reads for output unit j: ``j >> 1`` when doubling,
    else ``min(floor(j * s), n_in - 1)`` in float32 with ``s = 1 / scale`` or ``n_in / n_out``
    (aten/src/ATen/native/UpSample.h, nearest_idx)."""
    if n_out == n_in:
        return j
    if n_out == 2 * n_in:
        return j >> 1
    s = _f32(1.0 / scale) if scale else _f32_ratio(n_in, n_out)
    return min(math.floor(_f32(_f32(float(j)) * s)), n_in - 1)


def nearest_map(n_in: int, n_out: int, scale: int | None = None) -> IndexMap:
    """Nearest neighbour from ``n_in`` to ``n_out`` units: unit j reads floor(j * n_in / n_out),
    a map of period n_out / gcd. torch computes it in float32, which for some sizes reads
    the unit before at a few units: then the map is torch's, unit by unit, over the output."""
    r = Fraction(n_in, n_out)
    a, b = r.numerator, r.denominator
    exact = IndexMap(a, tuple((t * a // b, t * a // b, 1) for t in range(b)))
    if n_out in (n_in, 2 * n_in):
        return exact  # torch copies or shifts: exact
    torch_units = [torch_nearest(j, n_in, n_out, scale) for j in range(n_out)]
    if all(exact.taps(j)[0] == unit for j, unit in enumerate(torch_units)):
        return exact
    return IndexMap(n_in, tuple((unit, unit, 1) for unit in torch_units))


def _linear_taps(num: int, den: int) -> Taps:
    """The units a linear interpolation at source coordinate num/den reads: the
    one below, and the one above unless the coordinate is a whole unit."""
    low = num // den
    return (low, low, 1) if num % den == 0 else (low, low + 1, 1)


def linear_map(n_in: int, n_out: int, align_corners: bool) -> IndexMap:
    """Bilinear (per axis linear) interpolation from ``n_in`` to ``n_out`` units, at
    torch's source coordinates: ``(j + 1/2) * n_in / n_out - 1/2`` or, with
    align_corners, ``j * (n_in - 1) / (n_out - 1)``. A coordinate below 0 (the
    first units without align_corners) reads unit -1 with weight 1 - frac and
    unit 0: torch clamps it to 0, which is the same pixels once clipped to the image."""
    if align_corners:
        r = Fraction(n_in - 1, n_out - 1) if n_out > 1 else Fraction(0)
        a, b = r.numerator, r.denominator
        return IndexMap(a, tuple(_linear_taps(t * a, b) for t in range(b)))
    r = Fraction(n_in, n_out)
    a, b = r.numerator, r.denominator
    return IndexMap(a, tuple(_linear_taps((2 * t + 1) * a - b, 2 * b) for t in range(b)))


def transposed_map(extent_taps: int, stride: int, padding: int, dilation: int) -> IndexMap:
    """A transposed convolution (``extent_taps`` = its kernel size k): output unit j
    gets input unit i through tap t where ``j = i*stride - padding + t*dilation``."""
    phases = []
    for j in range(stride):
        units = sorted((j + padding - t * dilation) // stride for t in range(extent_taps)
                       if (j + padding - t * dilation) % stride == 0)
        if not units:
            phases.append(None)
        else:
            spacing = units[1] - units[0] if len(units) > 1 else 1
            phases.append((units[0], units[-1], spacing))
    return IndexMap(1, tuple(phases))


def offset_map(offset: int) -> IndexMap:
    """Unit j reads unit j + offset (a crop)."""
    return IndexMap(1, ((offset, offset, 1),))


@dataclass(frozen=True)
class Resize:
    """An output length ``floor((mul * n + add) / div)``, ``n`` the length of input
    ``source`` (0: the tensor flowing in; 1: a ``to=`` tensor): what cnndsl/symbolic.py
    asks of an op that is not a sliding window."""

    mul: int = 1
    add: int = 0
    div: int = 1
    source: int = 0
    fits: bool = False  # the result must fit in input 0 (a crop to another tensor's size)

    def at(self, n: int) -> int:
        return (self.mul * n + self.add) // self.div
