"""The abstract syntax tree of a spec: frozen dataclasses, each with its span.

Built by :mod:`cnndsl.parser`, read by :mod:`cnndsl.elaborate`. Nothing here
knows what a layer means; a :class:`Layer` is a name with arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .diagnostics import Span

# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Const:
    value: object  # int, float, bool or str
    span: Span


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class InRef:
    """`in`: the shape of the tensor flowing into the statement that reads it."""

    span: Span


@dataclass(frozen=True, slots=True)
class Seq:
    """A tuple `(a, b)` or a list `[a, b]`; both evaluate to a tuple."""

    items: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Index:
    target: "Expr"
    index: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class Attr:
    target: "Expr"
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-", "+", "not"
    operand: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / // % ** == != < <= > >= and or
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class FuncCall:
    name: str
    args: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Conditional:
    """`then if condition else orelse`: only the chosen branch is evaluated."""

    condition: "Expr"
    then: "Expr"
    orelse: "Expr"
    span: Span


Expr = Union[Const, Var, InRef, Seq, Index, Attr, Unary, Binary, FuncCall, Conditional]


@dataclass(frozen=True, slots=True)
class Template:
    """A computed name, `"layer{i + 1}"`: text and `{...}` expressions, in order."""

    parts: tuple[Union[str, "Expr"], ...]
    text: str  # as written, quotes included, for messages
    span: Span
    names_only: bool = True  # an output's name may be any text ("0"), a dict key


Name = Union[str, Template]  # a stage, path or `as` name: as written, or computed

# ----------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class Arg:
    name: str | None  # None for a positional argument
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Layer:
    """`name`, `name(args)` or `name(args) as alias`: a layer or a block call."""

    name: str
    args: tuple[Arg, ...]
    alias: Name | None
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Stage:
    name: Name
    body: tuple["Stmt", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Repeat:
    count: Expr
    body: tuple["Stmt", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class For:
    targets: tuple[str, ...]
    unpack: bool  # `for (a, b) in ...` rather than `for a in ...`
    iterable: Expr
    body: tuple["Stmt", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Path:
    name: Name | None
    body: tuple["Stmt", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Merge:
    kind: str  # "concat" or "add"
    paths: tuple[Path, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class If:
    condition: Expr
    then: tuple["Stmt", ...]
    orelse: tuple["Stmt", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Assign:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Bind:
    """`-> name`: name the current tensor."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class From:
    """`from name`: continue from a named tensor."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Output:
    """`output name` / `output name (training)`: the current tensor is an output."""

    name: Name
    training: bool
    span: Span


Stmt = Union[Layer, Stage, Repeat, For, Merge, If, Assign, Bind, From, Output]

# -------------------------------------------------------------------- program


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class Block:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Program:
    name: str
    params: tuple[Param, ...]
    input: tuple[Expr, ...]
    input_span: Span
    blocks: tuple[Block, ...]
    body: tuple[Stmt, ...]
    span: Span
