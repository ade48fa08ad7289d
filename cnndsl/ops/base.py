"""What an op is: its arguments and its rules, declared in one place.

Each layer type is a subclass of :class:`Op` registered with
:func:`register`. It declares its arguments (names, types, defaults,
aliases) and answers every question a pass or backend asks: its output
shape, its receptive-field window, its parameters, MACs and FLOPs, its
torch constructor and its drawing label. Passes never test an op's name.

Geometry: a sliding window answers :meth:`Op.window`, from which the
receptive field (:meth:`Op.index_map`, which input units each output
unit reads) and the size formulas follow. Ops that are not windows
(upsampling, transposed convolution, crops) answer ``index_map`` and
:meth:`Op.resize` (their output length) themselves, from the shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from math import prod
from typing import Any, Callable, ClassVar

# Windows and their rules live with the rest of the geometry; importable from here as always.
from .geometry import (GLOBAL, POINTWISE, Window, extent, same_padding,  # noqa: F401
                       window_out)

Shape = tuple  # (C, H, W) or (features,); the batch axis is implicit


class ArgError(Exception):
    """A bad argument; the elaborator points at ``arg`` (an index or name)."""

    def __init__(self, message: str, arg=None, code: str = "E0206", help: str = ""):
        super().__init__(message)
        self.message, self.arg, self.code, self.help = message, arg, code, help


class ShapeError(Exception):
    """An input shape the op cannot take. ``culprit`` names the offending input."""

    def __init__(self, message: str, code: str = "E0304", label: str = "", help: str = "",
                 notes: tuple = (), culprit: int | None = None, also: tuple = ()):
        super().__init__(message)
        self.message, self.code, self.label, self.help = message, code, label, help
        self.notes, self.culprit = notes, culprit
        self.also = also  # other inputs at fault, as the culprit is


def fmt_shape(shape) -> str:
    return "x".join(str(d) for d in shape)


# ------------------------------------------------------------ argument types


def _type_name(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, tuple):
        return "a tuple"
    if isinstance(value, range):
        return "a range"
    if isinstance(value, TensorName):
        return f"the tensor `{value.name}`"
    # `in` passed along as a value (ops cannot import cnndsl.expressions)
    return "a shape (`in`)" if type(value).__name__ == "ShapeValue" else type(value).__name__


@dataclass(frozen=True)
class Int:
    min: int | None = None

    def __call__(self, v):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"expected an integer, got {_type_name(v)}")
        if self.min is not None and v < self.min:
            raise ValueError(f"must be at least {self.min}, got {v}")
        return v

    def describe(self) -> str:
        return "int" if self.min is None else f"int >= {self.min}"


@dataclass(frozen=True)
class Pair:
    """An int for both spatial axes, or an `(h, w)` tuple."""

    min: int = 0

    def __call__(self, v):
        if type(v) is int and v >= self.min:  # `k=3`: the common case
            return v, v
        items = v if isinstance(v, tuple) else (v, v)
        if len(items) != 2:
            raise ValueError(f"expected an integer or a pair (h, w), got a tuple of {len(items)}")
        for x in items:
            if isinstance(x, bool) or not isinstance(x, int):
                raise ValueError(f"expected an integer or a pair (h, w), got {_type_name(x)}")
            if x < self.min:
                raise ValueError(f"must be at least {self.min}, got {x}")
        return tuple(items)

    def describe(self) -> str:
        return f"int or (h, w), >= {self.min}"


@dataclass(frozen=True)
class Float:
    min: float | None = None
    max: float | None = None

    def __call__(self, v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"expected a number, got {_type_name(v)}")
        if self.min is not None and v < self.min or self.max is not None and v > self.max:
            raise ValueError(f"must be between {self.min} and {self.max}, got {v}")
        return float(v)

    def describe(self) -> str:
        return "float" if self.min is None else f"float in [{self.min}, {self.max}]"


@dataclass(frozen=True)
class Bool:
    def __call__(self, v):
        if not isinstance(v, bool):
            raise ValueError(f"expected `true` or `false`, got {_type_name(v)}")
        return v

    def describe(self) -> str:
        return "bool"


@dataclass(frozen=True)
class Choice:
    """One of a few strings: `mode="reflect"`."""

    options: tuple[str, ...]

    def __call__(self, v):
        if not isinstance(v, str) or v not in self.options:
            shown = f'"{v}"' if isinstance(v, str) else _type_name(v)
            raise ValueError(f"expected {_one_of(self.options)}, got {shown}")
        return v

    def describe(self) -> str:
        return _one_of(self.options)


def _one_of(options) -> str:
    quoted = [f'"{o}"' for o in options]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


SAME = "same"  # TensorFlow's padding: output ceil(n / s), the extra pixel at the end


@dataclass(frozen=True)
class Padding:
    """Padding of a sliding window or a pad layer, per axis.

    ``p`` (both sides of both axes), ``(h, w)`` (both sides of each axis),
    per axis a ``(before, after)`` pair: ``((top, bottom), (left, right))``,
    and with ``same=True`` the string ``"same"``. Normalised to ``(h, w)``
    when every axis is symmetric (what torch's layers take), else to
    ``((top, bottom), (left, right))``, or ``"same"``.
    """

    same: bool = True

    def __call__(self, v):
        if type(v) is int and v >= 0:  # `p=1`: the common case
            return v, v
        if isinstance(v, str) and v == SAME and self.same:
            return SAME
        wanted = ("an integer, (h, w), ((top, bottom), (left, right))"
                  + (' or "same"' if self.same else ""))
        items = v if isinstance(v, tuple) else (v, v)
        if len(items) != 2:
            raise ValueError(f"expected {wanted}, got a tuple of {len(items)}")
        axes = []
        for item in items:
            pair = item if isinstance(item, tuple) else (item, item)
            if len(pair) != 2:
                raise ValueError(f"expected {wanted}, got a tuple of {len(pair)}")
            for x in pair:
                if isinstance(x, bool) or not isinstance(x, int):
                    shown = f'"{x}"' if isinstance(x, str) else _type_name(x)
                    raise ValueError(f"expected {wanted}, got {shown}")
                if x < 0:
                    raise ValueError(f"must be at least 0, got {x}")
            axes.append(tuple(pair))
        if all(before == after for before, after in axes):
            return tuple(before for before, _ in axes)
        return tuple(axes)

    def describe(self) -> str:
        return 'int, (h, w), ((top, bottom), (left, right))' + (' or "same"' if self.same else "")


def sides(padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """A normalised explicit padding as ((top, bottom), (left, right))."""
    return tuple(x if isinstance(x, tuple) else (x, x) for x in padding)


@dataclass(frozen=True)
class TensorName:
    """A named tensor written as an argument value (``to=skip``): the graph node."""

    node: str
    name: str  # as written


@dataclass(frozen=True)
class TensorRef:
    """An argument naming another tensor: ``upsample(to=skip)``, ``crop(to=x)``.

    The value is a name given with ``-> name``, ``in``, or ``input`` (the
    network's input). The elaborator passes that tensor to the op as an
    extra input after the one flowing in, and binds the argument to its
    index in ``ins`` (1 for the first such argument). The op reads only the
    tensor's shape unless it says otherwise (``field_inputs``).
    """

    def __call__(self, v):
        if not isinstance(v, TensorName):
            raise ValueError(f"expected a named tensor (`-> name`), `in` or `input`, "
                             f"got {_type_name(v)}")
        return v

    def describe(self) -> str:
        return "a named tensor"


class OrNone:
    """``None`` (absent, or filled in by validate) or a value of ``inner``'s type."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, v):
        return None if v is None else self.inner(v)

    def describe(self) -> str:
        return self.inner.describe()


REQUIRED = object()


@dataclass(frozen=True)
class Arg:
    name: str
    type: Callable[[Any], Any]
    default: Any = REQUIRED
    aliases: tuple[str, ...] = ()
    doc: str = ""


# ---------------------------------------------------------- receptive fields


def padded_window(k, s, padding, ceil: bool = False, d=(1, 1)) -> Window:
    """The window of extent ``k``, stride ``s`` and tap spacing ``d`` with a
    normalised :class:`Padding`."""
    if padding == SAME:
        return Window(k, s, (0, 0), ceil, same=True, d=d)
    if not isinstance(padding[0], tuple):  # (h, w): both sides alike, the common case
        return Window(k, s, padding, ceil, d=d)
    (top, bottom), (left, right) = sides(padding)  # normalised: some axis differs
    return Window(k, s, (top, left), ceil, (bottom, right), d=d)


@lru_cache(maxsize=1024, typed=True)
def kernel_window(kernel, s, padding, ceil: bool, d) -> Window:
    """The window of a ``kernel`` whose taps are ``d`` apart (a conv's, a pool's), with
    stride ``s`` and a normalised :class:`Padding`: made once for the many layers that
    share it (windows are immutable)."""
    return padded_window(tuple(map(extent, kernel, d)), s, padding, ceil, d)


# ------------------------------------------------------------------ torch


@dataclass(frozen=True)
class Ctor:
    """A torch.nn constructor call: ``nn.<cls>(*args, **kwargs)``, or with
    ``source`` (a class definition, for modules torch.nn lacks) ``<cls>(...)``.

    ``source`` may use ``torch`` and ``nn`` (``from torch import nn``), what
    every generated file imports; it is emitted once per file.
    """

    cls: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class Param:
    """A bare learnable tensor, ``nn.Parameter(torch.full(shape, fill))``, not a module.

    The generated module registers it on the module of the scope the layer
    sits in (its stage, block call or path), under the layer's name, as
    torchvision's ConvNeXt registers its layer scale on the block: a
    module's own parameters come before its children's in ``state_dict``,
    so only there does the order match such a network's. The op's
    ``forward_source`` gets the parameter's attribute (``self.<path>``) as
    the last of its inputs.
    """

    cls: ClassVar[str] = "Parameter"  # the torch class, for whoever maps class names
    shape: tuple
    fill: float


# ---------------------------------------------------------------------- op


class Op:
    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    args: ClassVar[tuple[Arg, ...]] = ()
    family: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    shape_doc: ClassVar[str] = ""  # the shape rule in words, for docs/language.md
    # A spec using the op, from its `input [...]` line on: docs/language.md shows it
    # and the suite checks and runs it (tests/test_docs.py, tests/test_ops_examples.py).
    example: ClassVar[str] = ""
    many_inputs: ClassVar[bool] = False  # merges take every path's tensor
    # A merge whose inputs broadcast (torch's rule): a path of size 1 on an axis
    # stretches to the others', so only the others' sizes must agree there.
    broadcasts: ClassVar[bool] = False
    # Acts only while training (dropout): pointless, says the lint pass,
    # where no learnable layer follows it.
    training_only: ClassVar[bool] = False
    # Pools exist to summarise every pixel: the lint pass warns when the
    # stride leaves real pixels unread (a strided conv may skip them on purpose).
    warn_unread_pixels: ClassVar[bool] = False
    # What autograd keeps for backward (cnndsl.passes.memory): "input", "output",
    # "mask" (one byte per output element) or "indices" (int64 per output element).
    # None means undeclared, which the registry test refuses.
    saved: ClassVar[tuple[str, ...] | None] = None
    view: ClassVar[bool] = False  # the output shares the input's storage (no new tensor)

    # -- arguments
    def bind(self, positional: list, keywords: dict) -> dict:
        """Match call arguments to declared ones; raise ArgError on the first problem.

        ``positional`` is a list of values, ``keywords`` maps the name as
        written to its value (aliases allowed). Returns canonical names.
        """
        by_name, defaults = self._by_name, self._defaults
        if len(positional) > len(self.args):
            takes = ("takes no arguments" if not self.args else
                     f"takes at most {len(self.args)} argument{'s' if len(self.args) != 1 else ''}")
            raise ArgError(f"`{self.name}` {takes}, got {len(positional)}", arg=len(self.args),
                           code="E0205",
                           help=f"write `{self.name}` alone" if not self.args else
                           "its arguments: " + ", ".join(f"`{a.name}`" for a in self.args))
        bound: dict = {}
        for a, v in zip(self.args, positional):
            bound[a.name] = (v, len(bound))
        for written, v in keywords.items():
            a = by_name.get(written)
            if a is None:
                from ..diagnostics import suggest
                raise ArgError(f"`{self.name}` has no argument `{written}`", arg=written,
                               code="E0202", help=suggest(written, by_name))
            if a.name in bound:
                raise ArgError(f"argument `{a.name}` of `{self.name}` is given twice", arg=written,
                               code="E0203")
            bound[a.name] = (v, written)
        out = {}
        for a in self.args:
            name = a.name
            if name in bound:
                value, where = bound[name]
                try:
                    out[name] = a.type(value)
                except ValueError as e:
                    raise ArgError(f"argument `{name}` of `{self.name}`: {e}", arg=where) from None
            elif name in defaults:  # (never a required one)
                out[name] = defaults[name]
            elif a.default is REQUIRED:
                short = f" (or `{a.aliases[0]}=...`)" if a.aliases else ""
                raise ArgError(f"`{self.name}` needs argument `{name}`", code="E0204",
                               help=f"add `{name}=...`{short}")
            else:
                out[name] = self._default(a)
        self.validate(out)
        return out

    def canonical(self, written: str) -> str:
        """The name of the argument ``written`` names (itself or an alias: `k` -> `kernel`)."""
        return self._by_name[written].name

    @cached_property
    def _by_name(self) -> dict[str, Arg]:
        """Each argument under its name and its aliases (for bind, made once per op)."""
        by_name = {}
        for a in self.args:
            by_name[a.name] = a
            for alias in a.aliases:
                by_name[alias] = a
        return by_name

    @cached_property
    def _defaults(self) -> dict:
        """Argument name -> its default as bind gives it, filled in by _default."""
        return {}

    def _default(self, a: Arg):
        """The value of an argument left out. Converted once per op, and shared by every
        layer that leaves it out where it is immutable (hashable), as the types give it."""
        value = a.default if a.default is None else a.type(a.default)
        try:
            hash(value)
        except TypeError:
            return value
        self._defaults[a.name] = value
        return value

    def validate(self, a: dict) -> None:
        """Checks across arguments; raise ArgError."""

    def misread(self, positional: list, keywords: dict, ins: list) -> str | None:
        """What the user meant, when positional arguments look written in PyTorch's
        order (``conv(3, 16, 3)``: in, out, kernel): the call to write instead, said
        as a help, or None. ``ins`` are the input shapes (None where unknown)."""
        return None

    def saves(self, a: dict) -> tuple[str, ...]:
        """What autograd keeps for backward with these arguments (see ``saved``)."""
        return self.saved

    # -- rules every op answers
    def shape(self, a: dict, ins: list[Shape]) -> Shape:
        raise NotImplementedError

    def params(self, a: dict, ins: list[Shape], out: Shape) -> tuple[int, int]:
        """(trainable parameters, buffer elements)."""
        return 0, 0

    def macs(self, a: dict, ins: list[Shape], out: Shape) -> int:
        """Multiply-adds of conv and linear layers (fvcore's convention)."""
        return 0

    def flops(self, a: dict, ins: list[Shape], out: Shape) -> int:
        """Other floating-point operations; every op must say."""
        raise NotImplementedError(f"op `{self.name}` has no FLOP rule")

    def window(self, a: dict):
        """A :class:`Window` or ``GLOBAL``. An op that is no sliding window (upsampling,
        transposed convolution, crop) leaves it and answers ``index_map`` and ``resize``."""
        raise NotImplementedError(f"op `{self.name}` is not a sliding window")

    def index_map(self, a: dict, ins: list[Shape], out: Shape):
        """Per axis (h, w), the :class:`~cnndsl.ops.geometry.IndexMap` saying which units
        of the input ``ins[0]`` each output unit reads, or ``GLOBAL``. Sliding windows
        answer from :meth:`window` (at the input's size); upsampling, transposed
        convolution and crops, whose maps are not windows or depend on sizes, override it."""
        window = self.window(a)
        if type(window) is str and window == GLOBAL:
            return GLOBAL
        if window.same:
            window = window.at(ins[0][1:])
        return window.maps

    def resize(self, a: dict, axis: int):
        """The output length along ``axis`` (0: height, 1: width) of an op that is not a
        sliding window, as a :class:`~cnndsl.ops.geometry.Resize` of an input's length
        (cnndsl/symbolic.py); None, the default, reads it off :meth:`window`."""
        return None

    def field_inputs(self, a: dict, ins: list[Shape], out: Shape) -> list[int]:
        """The inputs whose receptive fields make up the output's (all of them,
        unless the op says otherwise: a broadcast gate of ``mul``)."""
        return list(range(len(ins)))

    def torch(self, a: dict, ins: list[Shape], out: Shape) -> Ctor | Param | None:
        """The module to build, a bare parameter (:class:`Param`), or None for a
        functional op (see forward_source)."""
        raise NotImplementedError(f"op `{self.name}` has no torch constructor")

    def forward_source(self, a: dict, inputs: list[str]) -> str:
        """Python expression computing a functional op from input variables (for a
        :class:`Param` op, the parameter's attribute comes last)."""
        raise NotImplementedError

    def label(self, a: dict) -> str:
        return self.name


REGISTRY: dict[str, Op] = {}
NAMES: dict[str, Op] = {}  # canonical names and aliases


def register(cls):
    op = cls()
    REGISTRY[op.name] = op
    for name in (op.name, *op.aliases):
        assert name not in NAMES, f"op name {name} registered twice"
        NAMES[name] = op
    return cls


# ------------------------------------------------------------ shared rules


def spatial(shape: Shape, op: str) -> Shape:
    """The (C, H, W) input of a spatial op, or a ShapeError."""
    if len(shape) != 3:
        raise ShapeError(f"`{op}` needs a CxHxW input, got {fmt_shape(shape)} features",
                         code="E0305", label=f"input is {fmt_shape(shape)}")
    return shape


# The number of elements of a shape: math.prod itself, called for every layer by
# the cost and memory passes (a function around it would double what each call costs).
numel = prod
