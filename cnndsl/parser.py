"""Text to AST: the lark grammar in ``grammars/cnn.lark`` and a Transformer.

Syntax errors become diagnostics that say what was expected in words
("expected a layer or `}`"), never lark's token names.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from pathlib import Path as FilePath

import lark
from lark import Token, Transformer_NonRecursive, Tree, v_args

from . import nodes as n
from .diagnostics import CnnError, Diagnostic, Sources, Span

# Limits that keep every later walk (elaboration, evaluation) well inside
# Python's recursion limit, whatever the spec: statements nest through
# `{ ... }` bodies and `else if` chains, expressions through operators.
MAX_NESTING = 100
MAX_EXPRESSION_DEPTH = 100
MAX_SYNTAX_ERRORS = 20
INT_LIMIT = 2**63  # as in cnndsl.expressions: larger literals are refused


def grammar_path() -> FilePath:
    """The grammar shipped in the wheel, or the repository's in a checkout."""
    here = FilePath(__file__).resolve().parent
    for candidate in (here / "grammars" / "cnn.lark", here.parent / "grammars" / "cnn.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("cnndsl's grammar (grammars/cnn.lark) is missing from the installation")


@functools.lru_cache(maxsize=None)
def _lark() -> lark.Lark:
    # cache=True keeps the LALR tables on disk, keyed by the grammar's hash:
    # building them costs more than the rest of a small `check`.
    return lark.Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr",
                     propagate_positions=True, maybe_placeholders=True, cache=True)


def parse(text: str, file: str = "<spec>") -> n.Program:
    """Parse spec text into a :class:`cnndsl.nodes.Program`.

    >>> parse("network tiny\\ninput [1, 8, 8]\\nconv(4, k=3) relu").body[0].name
    'conv'
    """
    if text.startswith("\ufeff"):
        # A byte-order mark that some editors write: whitespace, same length
        # so every column still matches the text diagnostics quote.
        text = " " + text[1:]
    with _gc_paused():
        try:
            tree = _lark().parse(text)
        except lark.exceptions.UnexpectedInput as err:
            from .syntax_errors import all_syntax_errors, syntax_diagnostic  # only when needed
            found = all_syntax_errors(text, file) or [syntax_diagnostic(err, text, file)]
            raise CnnError(found, Sources({file: text})) from None
        too_deep = _nesting_diagnostic(tree, file)
        if too_deep is not None:
            raise CnnError([too_deep], Sources({file: text}))
        builder = _ToAst(file)
        program = builder.transform(tree)
    if builder.errors:
        raise CnnError(builder.errors, Sources({file: text}))
    return program


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while a parse tree is alive.

    The tree, its tokens and the AST are millions of objects that all live
    until the end; the collector rescans them over and over for nothing
    (a written-out 10,000-layer spec parsed 2.5x slower, bench/bench_check.py).
    Reference counting still frees everything; collection resumes after.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ------------------------------------------------------------------ nesting

_BODY_RULES = {"body"}
_STATEMENT_RULES = {"start", "block_def", "body", "layer", "call_args", "kwarg", "stage", "repeat",
                    "for_loop", "one_target", "tuple_target", "merge", "merge_kind", "path",
                    "if_stmt", "assign", "bind", "from_stmt", "header", "params", "param",
                    "input_decl"}


def _nesting_diagnostic(tree: Tree, file: str) -> Diagnostic | None:
    """E0403 if bodies or expressions nest deeper than the limits.

    An iterative walk: the tree of a hostile spec can be deeper than
    Python's recursion limit, which is exactly what this check prevents.
    """
    stack = [(tree, 0, 0, False, None)]
    while stack:
        node, nesting, depth, parent_if, outermost = stack.pop()
        if not isinstance(node, Tree):
            continue
        if node.data in _BODY_RULES or node.data == "if_stmt" and parent_if:
            nesting += 1  # a `{ ... }` body, or one more `else if`
            if nesting > MAX_NESTING:
                return Diagnostic("E0403", f"blocks, loops, paths and conditionals nest more "
                                  f"than {MAX_NESTING} deep", _span(file, node.meta),
                                  f"nesting level {nesting}",
                                  help="split the spec into blocks that call each other")
        if node.data not in _STATEMENT_RULES:
            depth += 1
            outermost = outermost or node
            if depth > MAX_EXPRESSION_DEPTH:
                return Diagnostic("E0403", f"an expression nests more than "
                                  f"{MAX_EXPRESSION_DEPTH} operators deep",
                                  _span(file, outermost.meta), "this expression",
                                  help="name parts of it with `name = ...` first")
        else:
            depth, outermost = 0, None
        for child in node.children:
            stack.append((child, nesting, depth, node.data == "if_stmt", outermost))
    return None


# ------------------------------------------------------------------ AST build


def _span(file: str, meta) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(file: str, tok: Token) -> Span:
    return Span(file, tok.line, tok.column, tok.end_line, tok.end_column)


def _present(children):
    return [c for c in children if c is not None]


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    # Non-recursive: the tree's depth is checked first, but the walk should
    # not be the thing that decides how deep a spec may be.
    def __init__(self, file: str):
        super().__init__()
        self.file = file
        self.errors: list[Diagnostic] = []

    def _s(self, meta) -> Span:
        return _span(self.file, meta)

    # program
    def start(self, meta, children):
        (name, params), (inp, inp_span), *items = children
        blocks = tuple(i for i in items if isinstance(i, n.Block))
        body = tuple(i for i in items if not isinstance(i, n.Block))
        return n.Program(name, params, inp, inp_span, blocks, body, self._s(meta))

    def header(self, meta, children):
        name, params = children
        return str(name), params or ()

    def params(self, meta, children):
        return tuple(_present(children))

    def param(self, meta, children):
        name, default = children
        return n.Param(str(name), default, self._s(meta))

    def input_decl(self, meta, children):
        return tuple(_present(children)), self._s(meta)

    def block_def(self, meta, children):
        name, params, body = children
        return n.Block(str(name), params, body, self._s(meta), _tok_span(self.file, name))

    def body(self, meta, children):
        return tuple(children)

    # statements
    def layer(self, meta, children):
        name, args, alias = children
        return n.Layer(str(name), args or (), str(alias) if alias else None,
                       self._s(meta), _tok_span(self.file, name))

    def call_args(self, meta, children):
        return tuple(c if isinstance(c, n.Arg) else n.Arg(None, c, c.span) for c in _present(children))

    def kwarg(self, meta, children):
        name, value = children
        return n.Arg(str(name), value, self._s(meta))

    def stage(self, meta, children):
        name, body = children
        return n.Stage(str(name), body, self._s(meta))

    def repeat(self, meta, children):
        count, body = children
        return n.Repeat(count, body, self._s(meta))

    def for_loop(self, meta, children):
        (names, unpack), iterable, body = children
        return n.For(names, unpack, iterable, body, self._s(meta))

    def one_target(self, meta, children):
        return (str(children[0]),), False

    def tuple_target(self, meta, children):
        return tuple(str(c) for c in _present(children)), True

    def merge(self, meta, children):
        kind, *paths = children
        return n.Merge(kind, tuple(paths), self._s(meta))

    def merge_kind(self, meta, children):
        return str(children[0])

    def path(self, meta, children):
        name, body = children
        return n.Path(str(name) if name else None, body, self._s(meta))

    def if_stmt(self, meta, children):
        cond, then, orelse = children
        if isinstance(orelse, n.If):
            orelse = (orelse,)
        return n.If(cond, then, orelse or (), self._s(meta))

    def assign(self, meta, children):
        name, value = children
        return n.Assign(str(name), value, self._s(meta))

    def bind(self, meta, children):
        return n.Bind(str(children[0]), self._s(meta))

    def from_stmt(self, meta, children):
        return n.From(str(children[0]), self._s(meta))

    # expressions
    def int(self, meta, children):
        digits = str(children[0]).replace("_", "").lstrip("0") or "0"
        # Compare lengths before converting: int() of a 5,000-digit literal
        # is refused by Python itself, and nothing that large is a size.
        if len(digits) > 19 or int(digits) >= INT_LIMIT:
            self.errors.append(Diagnostic("E0307", "number too large (the limit is 2**63)",
                                          self._s(meta), "this number"))
            return n.Const(0, self._s(meta))
        return n.Const(int(digits), self._s(meta))

    def float(self, meta, children):
        value = float(str(children[0]).replace("_", ""))
        if value == float("inf"):
            self.errors.append(Diagnostic("E0307", "number too large for a float",
                                          self._s(meta), "this number"))
            value = 0.0
        return n.Const(value, self._s(meta))

    def string(self, meta, children):
        return n.Const(str(children[0])[1:-1], self._s(meta))

    def true(self, meta, children):
        return n.Const(True, self._s(meta))

    def false(self, meta, children):
        return n.Const(False, self._s(meta))

    def in_ref(self, meta, children):
        return n.InRef(self._s(meta))

    def var(self, meta, children):
        return n.Var(str(children[0]), self._s(meta))

    def fcall(self, meta, children):
        name, *args = children
        return n.FuncCall(str(name), tuple(_present(args)), self._s(meta))

    def tuple(self, meta, children):
        return n.Seq(tuple(_present(children)), self._s(meta))

    list = tuple

    def index(self, meta, children):
        target, index = children
        return n.Index(target, index, self._s(meta))

    def attr(self, meta, children):
        target, name = children
        return n.Attr(target, str(name), self._s(meta))

    def _binary(op):
        def build(self, meta, children):
            left, right = children
            return n.Binary(op, left, right, self._s(meta))
        return build

    or_ = _binary("or")
    and_ = _binary("and")
    plus = _binary("+")
    minus = _binary("-")
    times = _binary("*")
    divide = _binary("/")
    floordiv = _binary("//")
    modulo = _binary("%")
    pow = _binary("**")

    def compare(self, meta, children):
        left, op, right = children
        return n.Binary(str(op), left, right, self._s(meta))

    def not_(self, meta, children):
        return n.Unary("not", children[0], self._s(meta))

    def neg(self, meta, children):
        return n.Unary("-", children[0], self._s(meta))

    def pos(self, meta, children):
        return n.Unary("+", children[0], self._s(meta))
