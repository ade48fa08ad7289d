"""What an op is: its arguments and its rules, declared in one place.

Each layer type is a subclass of :class:`Op` registered with
:func:`register`. It declares its arguments (names, types, defaults,
aliases) and answers every question a pass or backend asks: its output
shape, its receptive-field window, its parameters, MACs and FLOPs, its
torch constructor and its drawing label. Passes never test an op's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

Shape = tuple  # (C, H, W) or (features,); the batch axis is implicit


class ArgError(Exception):
    """A bad argument; the elaborator points at ``arg`` (an index or name)."""

    def __init__(self, message: str, arg=None, code: str = "E0206", help: str = ""):
        super().__init__(message)
        self.message, self.arg, self.code, self.help = message, arg, code, help


class ShapeError(Exception):
    """An input shape the op cannot take. ``culprit`` names the offending input."""

    def __init__(self, message: str, code: str = "E0304", label: str = "", help: str = "",
                 notes: tuple = (), culprit: int | None = None):
        super().__init__(message)
        self.message, self.code, self.label, self.help = message, code, label, help
        self.notes, self.culprit = notes, culprit


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


REQUIRED = object()


@dataclass(frozen=True)
class Arg:
    name: str
    type: Callable[[Any], Any]
    default: Any = REQUIRED
    aliases: tuple[str, ...] = ()
    doc: str = ""


# ---------------------------------------------------------- receptive fields


@dataclass(frozen=True)
class Window:
    """How one output unit sees its input, per axis (h, w): kernel extent
    (dilation included), stride and padding (Araujo et al., Distill 2019)."""

    k: tuple[int, int] = (1, 1)
    s: tuple[int, int] = (1, 1)
    p: tuple[int, int] = (0, 0)
    ceil: bool = False  # output length rounds up (pools' ceil_mode): sizes, not fields


POINTWISE = Window()
GLOBAL = "global"  # the output sees the whole input (global pool, linear, flatten)


# ------------------------------------------------------------------ torch


@dataclass(frozen=True)
class Ctor:
    """A torch.nn constructor call: ``nn.<cls>(*args, **kwargs)``."""

    cls: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


# ---------------------------------------------------------------------- op


class Op:
    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    args: ClassVar[tuple[Arg, ...]] = ()
    family: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    shape_doc: ClassVar[str] = ""  # the shape rule in words, for docs/language.md
    many_inputs: ClassVar[bool] = False  # merges take every path's tensor
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
        by_name = {}
        for a in self.args:
            by_name[a.name] = a
            for alias in a.aliases:
                by_name[alias] = a
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
            if a.name in bound:
                value, where = bound[a.name]
                try:
                    out[a.name] = a.type(value)
                except ValueError as e:
                    raise ArgError(f"argument `{a.name}` of `{self.name}`: {e}", arg=where) from None
            elif a.default is REQUIRED:
                short = f" (or `{a.aliases[0]}=...`)" if a.aliases else ""
                raise ArgError(f"`{self.name}` needs argument `{a.name}`", code="E0204",
                               help=f"add `{a.name}=...`{short}")
            else:
                out[a.name] = a.default if a.default is None else a.type(a.default)
        self.validate(out)
        return out

    def validate(self, a: dict) -> None:
        """Checks across arguments; raise ArgError."""

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
        """A :class:`Window` or ``GLOBAL``."""
        raise NotImplementedError(f"op `{self.name}` has no receptive-field rule")

    def torch(self, a: dict, ins: list[Shape], out: Shape) -> Ctor | None:
        """The module to build, or None for a functional op (see forward_source)."""
        raise NotImplementedError(f"op `{self.name}` has no torch constructor")

    def forward_source(self, a: dict, inputs: list[str]) -> str:
        """Python expression computing a functional op from input variables."""
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


def extent(k: int, d: int = 1) -> int:
    """The span of a kernel of size k with dilation d: d*(k-1)+1."""
    return d * (k - 1) + 1


def window_out(n: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """Output length of a sliding window, exactly as torch computes it.

    The seed's rule floor((n + 2p - k + s) / s) with the kernel's dilated
    extent d*(k-1)+1; with ceil mode, torch rounds up but drops a last
    window that would start inside the right padding.
    """
    span = n + 2 * p - extent(k, d)
    out = (span + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def numel(shape: Shape) -> int:
    total = 1
    for d in shape:
        total *= d
    return total
