"""Receptive field of every layer, per axis, exact through upsampling.

Following Araujo, Norris and Sim, "Computing Receptive Fields of
Convolutional Neural Networks" (Distill, 2019), a layer with kernel extent
``k`` (dilation included: ``d*(k-1)+1``), stride ``s`` and padding ``p``
maps the field of its input, measured in input pixels, to

    r_out = r_in + (k - 1) * S_in      (size)
    S_out = S_in * s                   (stride, the "jump" between units)
    P_out = P_in + p * S_in            (effective padding)

so that output unit ``j`` sees input pixels ``[j*S - P, j*S - P + r - 1]``.

Through upsampling and transposed convolution that is no longer true: the
stride drops below one pixel and the field of unit ``j`` is not an affine
function of ``j`` (nearest x2 sends units 2m and 2m + 1 to the same input
unit; a transposed conv reads one or two units depending on ``j``'s
parity). Exactly, per axis, a field is periodic: a period ``T`` of output
units, a shift (the pixels the field moves per period; the stride is
``S = shift / T``, a fraction) and for the ``T`` units of one period the
first and last input pixel each sees, so that unit ``q*T + t`` sees
``[q*shift + lo[t], q*shift + hi[t]]``. Ordinary conv nets keep ``T = 1``,
which is Araujo's ``(r, S, P)``.

Every layer says which of its input units each output unit reads
(``Op.index_map``: a period of taps, see cnndsl/ops/geometry.py). The
field of output unit ``j`` is the hull of the fields of the units it
reads: ``[L_in(first tap), H_in(last tap)]`` where the input's field is
monotone in the unit (it always is, but after a transposed conv whose
dilation and stride leave gaps, where the taps are scanned over one
period of the input's field). The output's period is the least common
period of both, reduced to the smallest one that repeats.

Where paths meet, a unit sees the union (hull) of what its paths see, unit
by unit over the common period: exact where the paths' strides are equal
(and that period is at most ``PERIOD_LIMIT`` units).
Paths whose strides or centres differ are not aligned: the merge mixes
features centred on different pixels, which is legal but usually a
mistake, so it gets a warning (W0301) naming both paths. A unit's centre
is ``(L + H) / 2``; paths are compared by their mean centre over a period
(less ``t*S`` for unit ``t``): U-Net's up path sees the bottom's field in
blocks of 16 units while its cropped skip moves one pixel per unit, and
the two agree on average, not unit by unit. With unequal strides the
union changes from unit to unit without a period: the largest path's
field is reported (the merge warns anyway).

A field's ``size`` is its largest unit's, ``stride`` is ``S`` (an int
where whole, else a Fraction), ``padding`` is ``-L(0)``, the effective
padding of unit 0. Fields are in an image extended without end: padding
units count as reads of the units beyond the border (their fields lie
outside the image, or inside it past a crop), as do the first and last
units of a bilinear upsampling, which torch clamps to the border pixel.
Away from the borders, ``span(unit)`` is exactly the box of input pixels
whose gradient the unit has (tests/test_receptive_field.py).

``p`` is the padding before the input (top, left). Padding after it
(TensorFlow's `same`, asymmetric padding) changes the output's length,
never where a unit looks; `same` padding depends on the input's size, so
each layer's map is taken at its input's size (as are upsampling to
another tensor's size and crops).

A layer after a global pool, flatten or linear sees the whole input: its
field is :data:`WHOLE_INPUT`, not a number.

Statistics of the whole feature map are left out of the field: the
squeeze-and-excitation gate of a `mul` (a path broadcast over both spatial
axes: the op names the inputs that count, ``Op.field_inputs``), the mean
and variance of group and instance norm, and the tensor whose size an
`upsample(to=x)` or `crop(to=x)` takes. tests/test_receptive_field.py
checks this definition with gradients, those statistics detached.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import gcd, lcm

from ..diagnostics import Diagnostic
from ..ops import GLOBAL

WHOLE_INPUT = GLOBAL  # a field that covers the whole input
# Paths whose periods (sizes taken from other tensors, align_corners) have a common
# period beyond this are merged as the largest path's field, not unit by unit.
PERIOD_LIMIT = 1 << 12


def _whole(x):
    """A Fraction that is whole, as an int (strides print as people write them)."""
    return x.numerator if isinstance(x, Fraction) and x.denominator == 1 else x


@dataclass(frozen=True, slots=True)
class AxisField:
    """One axis of a field: unit ``q*period + t`` sees input pixels
    ``[q*shift + lo, q*shift + hi]`` with ``(lo, hi) = units[t]`` (None: nothing)."""

    shift: int
    units: tuple
    # The exact stride where ``units`` list only the map's own units: a period longer
    # than the map (interpolation between sizes with no common factor) is cut to the
    # map, exact inside it; units beyond repeat it shifted by ``shift``, rounded.
    exact: Fraction | None = None

    @property
    def period(self) -> int:
        return len(self.units)

    @property
    def ratio(self) -> Fraction:
        """Input pixels per output unit, exactly."""
        return self.exact if self.exact is not None else Fraction(self.shift, self.period)

    @property
    def stride(self):
        return self.shift if len(self.units) == 1 and self.exact is None else \
            _whole(self.ratio)

    def at(self, j: int) -> tuple[int, int] | None:
        q, t = divmod(j, len(self.units))
        unit = self.units[t]
        return None if unit is None else (unit[0] + q * self.shift, unit[1] + q * self.shift)

    @property
    def size(self) -> int:
        if len(self.units) == 1 and self.units[0] is not None:  # period 1: the common case
            return self.units[0][1] - self.units[0][0] + 1
        return max((hi - lo + 1 for lo, hi in filter(None, self.units)), default=0)

    def monotone(self) -> bool:
        """Every unit sees something, and first and last pixels never go back."""
        units = self.units
        if None in units:
            return False
        if len(units) == 1:
            return True
        looped = units + ((units[0][0] + self.shift, units[0][1] + self.shift),)
        return all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(looped, looped[1:]))

    def hull(self, first: int, last: int, spacing: int) -> tuple[int, int] | None:
        """What units first, first + spacing, ..., last see together. Along the taps
        the units' phases repeat every ``period / gcd(spacing, period)`` taps and each
        phase's field only moves on: the first such taps hold the lowest pixels, the
        last ones the highest."""
        count = (last - first) // spacing + 1
        cycle = min(count, self.period // gcd(spacing, self.period))
        lows = [self.at(first + n * spacing) for n in range(cycle)]
        highs = [self.at(first + n * spacing) for n in range(count - cycle, count)]
        lows, highs = [u for u in lows if u], [u for u in highs if u]
        return (min(u[0] for u in lows), max(u[1] for u in highs)) if lows else None

    def through(self, m, length: int | None = None) -> "AxisField":
        """The field after a layer reading, per output unit, the input units of the
        :class:`~cnndsl.ops.geometry.IndexMap` ``m``; ``length`` output units exist
        (a longer period is listed only that far: see ``exact``)."""
        if len(m.phases) == 1 and len(self.units) == 1 and self.exact is None \
                and None not in (m.phases[0], self.units[0]):
            # an affine layer on an affine field: Araujo's recursion
            (first, last, _), (lo, hi) = m.phases[0], self.units[0]
            if m.step == 1 and first == last == 0:
                return self  # unit j reads unit j (an activation): the same field
            return AxisField(m.step * self.shift, ((lo + first * self.shift, hi + last * self.shift),))
        period = m.period * (self.period // gcd(m.step, self.period))
        shift = period // m.period * m.step // self.period * self.shift
        exact = self.exact and self.exact * m.step / m.period
        if length is not None and period > max(length, 1):  # list the map's units, no more
            exact = Fraction(shift, period) if exact is None else exact
            period, shift = max(length, 1), round(exact * max(length, 1))
        fast = self.monotone()
        units = []
        for j in range(period):
            taps = m.taps(j)
            if taps is None:
                units.append(None)
            elif fast:
                units.append((self.at(taps[0])[0], self.at(taps[1])[1]))
            else:
                units.append(self.hull(*taps))
        return AxisField(shift, tuple(units), exact or None).reduced()

    def reduced(self) -> "AxisField":
        """The same field at its smallest period."""
        if self.exact is not None:
            return self
        period, units = len(self.units), self.units
        for d in range(1, period):
            if period % d or self.shift * d % period:
                continue
            step = self.shift * d // period
            if all((a is None and b is None) or (a is not None and b is not None and
                                                 b == (a[0] + step, a[1] + step))
                   for a, b in zip(units, units[d:])):
                return AxisField(step, units[:d])
        return self

    def to_json(self) -> list:
        """The units of one period, [first, last] pixel each (null: none)."""
        return [None if u is None else list(u) for u in self.units]


class ReceptiveField:
    """Field of the output units, per axis (h, w), in input pixels.

    ``ReceptiveField(size, stride, padding)`` is Araujo's field (period 1);
    ``ReceptiveField(axes=...)`` takes two :class:`AxisField`.
    """

    __slots__ = ("axes",)

    def __init__(self, size=(1, 1), stride=(1, 1), padding=(0, 0), axes=None):
        if axes is None:
            axes = tuple(AxisField(s, ((-p, r - 1 - p),))
                         for r, s, p in zip(size, stride, padding))
        self.axes = tuple(axes)

    @property
    def size(self) -> tuple:
        """The largest unit's field, per axis."""
        return tuple([a.size for a in self.axes])

    @property
    def stride(self) -> tuple:
        """Input pixels between neighbouring units: an int, or a Fraction below
        one after upsampling (or where it is not whole)."""
        return tuple([a.stride for a in self.axes])

    @property
    def padding(self) -> tuple:
        """``-L(0)``: how far before the input unit 0's field starts."""
        out = []
        for a in self.axes:
            if a.units[0] is not None:  # unit 0 sees something: -L(0), an int
                out.append(-a.units[0][0])
                continue
            j = next((j for j in range(a.period) if a.units[j] is not None), None)
            out.append(0 if j is None else _whole(j * a.ratio - a.at(j)[0]))
        return tuple(out)

    @property
    def period(self) -> tuple:
        """Output units after which the field repeats, shifted (1 without upsampling)."""
        return tuple([a.period for a in self.axes])

    def span(self, unit: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        """The input pixels output unit ``(i, j)`` sees, per axis: ((top, bottom),
        (left, right)), inclusive, in input pixel coordinates. They may reach
        outside the image (``< 0`` or ``>= size``): that part falls in padding.
        An axis on which the unit sees nothing (a transposed conv whose kernel
        is smaller than its stride) gives an empty range, first > last."""
        out = []
        for u, a in zip(unit, self.axes):
            seen = a.at(u)
            if seen is None:
                start = u * a.shift // a.period
                seen = (start, start - 1)
            out.append(seen)
        return tuple(out)

    def through(self, maps, lengths=(None, None)) -> "ReceptiveField":
        """The field after a layer with these per-axis index maps, whose output has
        ``lengths`` units per axis (where known). Fields are immutable: an axis the
        layer leaves as it was stays the same object, and so does a field it leaves
        whole; a square layer on a square field computes one axis for both."""
        (a, b), (m, k), (n, length) = self.axes, maps, lengths
        first = a.through(m, n)
        second = first if (b is a or b == a) and (k is m or k == m) and length == n \
            else b.through(k, length)
        if first is a and second is b:
            return self
        return ReceptiveField(axes=(first, second))

    def to_json(self) -> dict:
        """size, stride and padding per axis (a fractional stride as "1/2"); with a
        period above 1, also `period` and `units` (each unit's [first, last] pixel)."""
        h, w = self.axes
        if len(h.units) == len(w.units) == 1 and h.exact is None and w.exact is None \
                and h.units[0] is not None and w.units[0] is not None:  # Araujo's field
            (top, bottom), (left, right) = h.units[0], w.units[0]
            return {"size": [bottom - top + 1, right - left + 1],
                    "stride": [_json(h.shift), _json(w.shift)], "padding": [-top, -left]}
        doc = {"size": list(self.size), "stride": [_json(s) for s in self.stride],
               "padding": [_json(p) for p in self.padding]}
        if self.period != (1, 1):
            doc["period"] = list(self.period)
            doc["units"] = [a.to_json() for a in self.axes]
        return doc

    def __eq__(self, other):
        return isinstance(other, ReceptiveField) and self.axes == other.axes

    def __hash__(self):
        return hash(self.axes)

    def __repr__(self):
        if self.period == (1, 1):
            return f"ReceptiveField({self.size}, {self.stride}, {self.padding})"
        return f"ReceptiveField(axes={self.axes!r})"


def _json(x):
    return x if isinstance(x, int) else f"{x.numerator}/{x.denominator}"


def _same_stride(axes) -> bool:
    return len({a.ratio for a in axes}) == 1


def _common(axes) -> int:
    return lcm(*(a.period for a in axes))


def _union_axis(axes: list[AxisField]) -> AxisField:
    if all(len(a.units) == 1 and a.units[0] is not None and a.shift == axes[0].shift
           for a in axes):  # Araujo's fields at one stride: the common case, kept cheap
        return AxisField(axes[0].shift, ((min(a.units[0][0] for a in axes),
                                          max(a.units[0][1] for a in axes)),))
    period = _common(axes)
    if not _same_stride(axes) or period > PERIOD_LIMIT:
        # no period (W0301 says why), or one too long to list: the largest path
        return max(axes, key=lambda a: (a.size, a.ratio))
    units = []
    for j in range(period):
        seen = [u for u in (a.at(j) for a in axes) if u is not None]
        units.append((min(u[0] for u in seen), max(u[1] for u in seen)) if seen else None)
    shift = axes[0].shift * period // axes[0].period
    return AxisField(shift, tuple(units)).reduced()


def union(fields: list[ReceptiveField]) -> ReceptiveField:
    """What a merge of these paths sees, per axis: exact with equal strides; with
    unequal strides the union changes from unit to unit, and this reports the
    largest path's field (the paths are reported as not aligned anyway)."""
    return ReceptiveField(axes=tuple(_union_axis([f.axes[x] for f in fields]) for x in (0, 1)))


def _path_name(merge_data: dict, source_data: dict) -> str:
    """The path of a merge that ends in ``source``, as users named it: the
    source's scope one level below the merge's, if that level is a path."""
    depth = len(merge_data["scope"])
    scope = source_data["scope"]
    if scope[:depth] == merge_data["scope"] and len(scope) > depth and scope[depth][0] == "path":
        return f"`{scope[depth][1]}`"
    return "an empty path"


def centre(a: AxisField) -> Fraction | None:
    """Where unit 0's field is centred, on average over a period: the mean over units t
    of ``(L(t) + H(t)) / 2 - t*S``. With period 1, unit 0's centre. Units that see
    nothing are left out (None if none sees anything)."""
    stride = a.ratio
    seen = [(u[0] + u[1], t) for t, u in enumerate(a.units) if u is not None]
    if not seen:
        return None
    return sum(Fraction(c2, 2) - t * stride for c2, t in seen) / len(seen)


def _fmt_number(x: Fraction) -> str:
    if x.denominator == 1:
        return str(x.numerator)
    text = f"{float(x):.4f}".rstrip("0")
    return text if Fraction(text) == x else f"{x.numerator}/{x.denominator}"


def _fmt_axis(a: AxisField) -> str:
    middle = centre(a)
    where = "nothing seen" if middle is None else f"centre {_fmt_number(middle)}"
    return f"size {a.size}, stride {a.stride}, {where}"


def _differ(a: AxisField, b: AxisField) -> str | None:
    """How two paths' fields differ on one axis; None: aligned (same stride, and the
    same centre on average over a period)."""
    if len(a.units) == len(b.units) == 1 and None not in (a.units[0], b.units[0]):
        strides, centres = a.shift != b.shift, sum(a.units[0]) != sum(b.units[0])
    else:
        strides, centres = not _same_stride([a, b]), centre(a) != centre(b)
    if not strides and not centres:
        return None
    return "strides and centres" if strides and centres else "strides" if strides else "centres"


def _misaligned(nodes, data: dict, inputs: list, fields: list[ReceptiveField]) -> Diagnostic | None:
    first = fields[0]
    for source, f in zip(inputs[1:], fields[1:]):
        for axis, axis_name in ((0, "height"), (1, "width")):
            differ = _differ(first.axes[axis], f.axes[axis])
            if differ is None:
                continue
            a = _path_name(data, nodes[inputs[0]])
            b = _path_name(data, nodes[source])
            unit = ("for output unit 0" if first.axes[axis].period == f.axes[axis].period == 1
                    else "for output unit 0, on average over a period of units")
            return Diagnostic(
                "W0301", "the receptive fields of these paths are not aligned",
                data["span"], f"{a} and {b} see regions with different {differ}",
                notes=(f"in {axis_name}, {a} has {_fmt_axis(first.axes[axis])} "
                       f"(in input pixels, {unit})",
                       f"in {axis_name}, {b} has {_fmt_axis(f.axes[axis])}")
                + tuple(data["chain"]),
                help="pad the paths alike so their output units share a centre",
                severity="warning")
    return None


def run(graph) -> list[Diagnostic]:
    """Write ``rf`` (a :class:`ReceptiveField` or ``WHOLE_INPUT``) on every node."""
    warnings, warned_at = [], set()
    nodes = dict(graph.nodes(data=True))  # node -> data, without a view per lookup
    for node, data in nodes.items():
        sources = data["inputs"]
        if not sources:
            data["rf"] = ReceptiveField()
            continue
        op, args, shape = data["op"], data["args"], data["shape"]
        if len(sources) == 1:
            source = nodes[sources[0]]
            shapes, fields = [source["shape"]], [source["rf"]]
        else:  # the op says which inputs count (not a gate, not a `to=` size)
            shapes = [nodes[i]["shape"] for i in sources]
            sources = [sources[i] for i in op.field_inputs(args, shapes, shape)]
            fields = [nodes[i]["rf"] for i in sources]
        if str in map(type, fields):  # WHOLE_INPUT, the one field that is a str
            data["rf"] = WHOLE_INPUT
            continue
        maps = op.index_map(args, shapes, shape)
        if type(maps) is str:  # GLOBAL
            data["rf"] = WHOLE_INPUT
            continue
        if len(fields) > 1:
            found = _misaligned(nodes, data, sources, fields)
            if found is not None and found.span not in warned_at:
                warned_at.add(found.span)  # once per merge in the source, at its first call
                warnings.append(found)
            field = union(fields)
        else:
            field = fields[0]
        data["rf"] = field.through(maps, shape[1:] if len(shape) == 3 else (None, None))
    return warnings
