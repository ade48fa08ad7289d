"""The parser's actions: AST nodes built while lark's LALR parser reduces.

lark runs these as an inline transformer (``Lark(..., transformer=...)``):
each method gets the children of one rule as the parser reduces it, every
token kept (``keep_all_tokens``), and returns a :mod:`cnndsl.nodes` node.
No parse tree is built. A node's span runs from its rule's first token to
its last, brackets and keywords included, as lark's ``propagate_positions``
would give; a parenthesised expression keeps its own span, and the brackets
count toward the span of whatever contains it.

Expression depth (E0403) is counted as nodes are built: the evaluator
recurses, so an expression nesting more than MAX_EXPRESSION_DEPTH operators
deep is refused.
"""

from __future__ import annotations

import re

from lark import Token, Transformer

from . import nodes as n
from .diagnostics import Diagnostic, Span, visible

MAX_EXPRESSION_DEPTH = 100
INT_LIMIT = 2**63  # as in cnndsl.expressions: larger literals are refused

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_name(text: str) -> bool:
    """Whether ``text`` could be written as a NAME: what a computed name must give."""
    return _IDENTIFIER.fullmatch(text) is not None


def show_text(text: str, limit: int = 60) -> str:
    """A name's text for a message: backquoted, cut at ``limit`` characters."""
    shown = visible(text if len(text) <= limit else text[:limit - 3] + "...")
    return f"`{shown}`"


def tok_span(file: str, tok: Token) -> Span:
    return Span(file, tok.line, tok.column, tok.end_line, tok.end_column)


class Body:
    """A body: its statements and its closing brace."""

    __slots__ = ("statements", "close")

    def __init__(self, statements: tuple, close: Token):
        self.statements, self.close = statements, close


class Written:
    """A computed name (a str or a Template), with the STRING token it was written as."""

    __slots__ = ("value", "tok")

    def __init__(self, value, tok: Token):
        self.value, self.tok = value, tok


class Builder(Transformer):
    """One parse's actions. :meth:`reset` before a parse, :meth:`state` to save one."""

    # Part of the parser cache's key: the cached parser holds a pickled Builder,
    # so change this when what __init__ or reset sets changes.
    VERSION = "2"

    def __init__(self, segment):
        """``segment`` parses the `{...}` of a computed name (the parser's entry point)."""
        super().__init__()
        self.segment = segment
        self.reset("<spec>", None)

    def reset(self, file: str, place: tuple[int, int] | None) -> None:
        """Start a parse of ``file``. For the `{...}` of a computed name, parsed on its
        own: ``place`` is the name's line and how far columns shift."""
        self.file = file
        self.place = place
        self.errors: list[Diagnostic] = []
        self.depth: dict[int, int] = {}  # id(expression) -> depth, for those deeper than 1
        self.outer: dict[int, tuple] = {}  # id(expression) -> (start, end) with its brackets
        self.too_deep: n.Expr | None = None  # the outermost expression past the limit

    def state(self) -> tuple:
        return self.file, self.place, self.errors, self.depth, self.outer, self.too_deep

    def restore(self, state: tuple) -> None:
        self.file, self.place, self.errors, self.depth, self.outer, self.too_deep = state

    # ---------------------------------------------------------------- spans

    def _span(self, line: int, column: int, end_line: int, end_column: int) -> Span:
        if self.place is None:
            return Span(self.file, line, column, end_line, end_column)
        line, shift = self.place
        return Span(self.file, line, column + shift, line, end_column + shift)

    def _edge(self, c, end: bool) -> tuple[int, int]:
        """Where a child starts (or ends): a token, a body (its `}`), a name written in
        quotes, or a node, with the brackets around it."""
        if isinstance(c, Body):
            c = c.close
        elif isinstance(c, Written):
            c = c.tok
        if isinstance(c, Token):
            return (c.end_line, c.end_column) if end else (c.line, c.column)
        outer = self.outer.get(id(c))
        if outer is not None:
            return outer[end]
        span = c.span
        line, column = (span.end_line, span.end_column) if end else (span.line, span.column)
        if self.place is None:
            return line, column
        return self.place[0], column - self.place[1]  # back to the segment's own columns

    def _between(self, first, last) -> Span:
        return self._span(*self._edge(first, False), *self._edge(last, True))

    def _tok(self, tok: Token) -> Span:
        if self.place is None:  # the common case, inline: a span per token of most specs
            return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)
        return self._span(tok.line, tok.column, tok.end_line, tok.end_column)

    # -------------------------------------------------------------- program

    def start(self, children):
        (name, params, network), (inp, inp_span), *items = children
        blocks = tuple(i for i in items if isinstance(i, n.Block))
        body = tuple(i for i in items if not isinstance(i, n.Block))
        last = items[-1] if items else inp_span
        end = (last.end_line, last.end_column) if last is inp_span else self._edge(last, True)
        return n.Program(name, params, inp, inp_span, blocks, body,
                         self._span(network.line, network.column, *end))

    def header(self, children):
        network, name, params = children
        return str(name), params or (), network

    def params(self, children):
        return tuple(c for c in children if isinstance(c, n.Param))

    def param(self, children):
        name, _, default = children
        return n.Param(str(name), default, self._between(name, default or name))

    def input_decl(self, children):
        dims = tuple(c for c in children[2:-1] if c is not None and not isinstance(c, Token))
        return dims, self._between(children[0], children[-1])

    def block_def(self, children):
        keyword, name, params, body = children
        return n.Block(str(name), params, body.statements, self._between(keyword, body),
                       self._tok(name))

    def body(self, children):
        return Body(tuple(children[1:-1]), children[-1])

    # ----------------------------------------------------------- statements

    def layer(self, children):
        name, args, _, alias = children
        name_span = self._tok(name)
        if alias is None and args is None:  # `relu`
            return n.Layer(str(name), (), None, name_span, name_span)
        last = alias if alias is not None else args[1]
        return n.Layer(str(name), args[0] if args is not None else (), _name(alias),
                       self._between(name, last), name_span)

    def call_args(self, children):
        args = tuple(c if isinstance(c, n.Arg) else n.Arg(None, c, c.span)
                     for c in children[1:-1] if c is not None and not isinstance(c, Token))
        return args, children[-1]

    def kwarg(self, children):
        name, _, value = children
        return n.Arg(str(name), value, self._between(name, value))

    def stage(self, children):
        keyword, name, body = children
        return n.Stage(_name(name), body.statements, self._between(keyword, body))

    def repeat(self, children):
        keyword, count, body = children
        return n.Repeat(count, body.statements, self._between(keyword, body))

    def for_loop(self, children):
        keyword, (names, unpack), _, iterable, body = children
        return n.For(names, unpack, iterable, body.statements, self._between(keyword, body))

    def one_target(self, children):
        return (str(children[0]),), False

    def tuple_target(self, children):
        return tuple(str(c) for c in children if c is not None and c.type == "NAME"), True

    def merge(self, children):
        kind, _, *paths, close = children
        return n.Merge(str(kind), tuple(paths), self._between(kind, close))

    def path(self, children):
        keyword, name, body = children
        return n.Path(_name(name), body.statements, self._between(keyword, body))

    def if_stmt(self, children):
        keyword, cond, then, orelse = children
        last = orelse if orelse is not None else then
        if isinstance(orelse, Body):
            orelse = orelse.statements
        elif isinstance(orelse, n.If):
            orelse = (orelse,)
        return n.If(cond, then.statements, orelse or (), self._between(keyword, last))

    def else_part(self, children):
        return children[1]  # a body, or the `if` of an `else if`

    def assign(self, children):
        name, _, value = children
        return n.Assign(str(name), value, self._between(name, value))

    def bind(self, children):
        arrow, name = children
        return n.Bind(str(name), self._between(arrow, name))

    def from_stmt(self, children):
        keyword, name = children
        return n.From(str(name), self._between(keyword, name))

    def output(self, children):
        keyword, name, _, flag, close = children
        if flag is not None and str(flag) != "training":
            self.errors.append(Diagnostic(
                "E0101", f"unknown output flag `{flag}`", self._tok(flag),
                help="write `output NAME (training)` for an output of training mode only, "
                     "or `output NAME`"))
        return n.Output(_name(name), flag is not None, self._between(keyword, close or name))

    # -------------------------------------------------------- computed names

    def out_template(self, children):
        """An output's name: a template whose text need not be a Python name ("0")."""
        return self.template(children, names_only=False)

    def template(self, children, names_only: bool = True):
        """`"layer{i + 1}"`: the text between braces is parsed as an expression."""
        return Written(self._template(children[0], names_only), children[0])

    def _template(self, tok: Token, names_only: bool):
        text = str(tok)
        parts: list = []
        start = 1  # after the opening quote
        while True:
            opening, closing = text.find("{", start, -1), text.find("}", start, -1)
            if opening < 0 or closing < opening:
                if closing >= 0:
                    return self._bad_template(tok, closing, closing + 1, "this `}` closes nothing")
                if opening >= 0:
                    return self._bad_template(tok, opening, opening + 1, "this `{` is not closed")
                parts.append(text[start:-1])
                break
            parts.append(text[start:opening])
            source = text[opening + 1:closing]
            if not source.strip():
                return self._bad_template(tok, opening, closing + 1, "empty `{}`")
            value = self._segment(source, tok.line, tok.column + opening + 1)
            if value is None:
                return n.Template((), text, self._tok(tok))
            parts.append(value)
            start = closing + 1
        parts = [p for p in parts if p != ""]
        if all(isinstance(p, str) for p in parts):  # no braces: a name written as a string
            name = "".join(parts)
            if not names_only and not name:
                self.errors.append(Diagnostic("E0206", "an output's name is empty",
                                              self._tok(tok), help='write a name: `output "0"`'))
            if names_only and not is_name(name):
                self.errors.append(Diagnostic(
                    "E0206", f"{show_text(text)} is not a name", self._tok(tok),
                    help="a name is letters, digits and `_`, not starting with a digit"))
            return name
        return n.Template(tuple(parts), text, self._tok(tok), names_only)

    def _bad_template(self, tok: Token, start: int, end: int, label: str):
        span = self._span(tok.line, tok.column + start, tok.line, tok.column + end)
        self.errors.append(Diagnostic("E0101", "a computed name holds expressions in `{...}`",
                                      span, label, help='write it like "layer{i + 1}"'))
        return n.Template((), str(tok), self._tok(tok))

    def _segment(self, source: str, line: int, column: int) -> n.Expr | None:
        """The expression ``source`` found at ``line``:``column``, or None (an error)."""
        value, errors, problem = self.segment(source, self.file, line, column)
        self.errors += errors
        if problem:
            span = Span(self.file, line, column, line, column + len(source))
            self.errors.append(Diagnostic("E0101", "a computed name holds expressions in "
                                          "`{...}`", span, problem))
            return None
        return value

    # ----------------------------------------------------------- expressions

    def _deep(self, node, *parts):
        """``node``, its depth counted from its sub-expressions ``parts``."""
        depth = self.depth
        d = 1 + max(depth.get(id(p), 1) for p in parts) if parts else 1
        if d > 1:
            depth[id(node)] = d
            if d > MAX_EXPRESSION_DEPTH:
                # Parents are built after their children: the last one recorded
                # that contains the previous one is the outermost expression.
                known = self.too_deep
                if known is None or self._contains(node, known):
                    self.too_deep = node
        return node

    def _contains(self, outer, inner) -> bool:
        return (self._edge(outer, False) <= self._edge(inner, False)
                and self._edge(inner, True) <= self._edge(outer, True))

    def int(self, children):
        tok = children[0]
        if len(tok) < 19 and "_" not in tok:  # most numbers: small, no separators
            return n.Const(int(tok), self._tok(tok))
        digits = str(tok).replace("_", "").lstrip("0") or "0"
        # Compare lengths before converting: int() of a 5,000-digit literal
        # is refused by Python itself, and nothing that large is a size.
        if len(digits) > 19 or int(digits) >= INT_LIMIT:
            self.errors.append(Diagnostic("E0307", "number too large (the limit is 2**63)",
                                          self._tok(tok), "this number"))
            return n.Const(0, self._tok(tok))
        return n.Const(int(digits), self._tok(tok))

    def float(self, children):
        tok = children[0]
        value = float(str(tok).replace("_", ""))
        if value == float("inf"):
            self.errors.append(Diagnostic("E0307", "number too large for a float",
                                          self._tok(tok), "this number"))
            value = 0.0
        return n.Const(value, self._tok(tok))

    def string(self, children):
        return n.Const(str(children[0])[1:-1], self._tok(children[0]))

    def true(self, children):
        return n.Const(True, self._tok(children[0]))

    def false(self, children):
        return n.Const(False, self._tok(children[0]))

    def in_ref(self, children):
        return n.InRef(self._tok(children[0]))

    def var(self, children):
        return n.Var(str(children[0]), self._tok(children[0]))

    def atom(self, children):
        """`( expr )`: the expression, its brackets remembered for its parent's span."""
        opening, inner, closing = children
        self.outer[id(inner)] = ((opening.line, opening.column),
                                 (closing.end_line, closing.end_column))
        return inner

    def fcall(self, children):
        name, *rest = children
        args = _items(rest)
        return self._deep(n.FuncCall(str(name), args, self._between(name, children[-1])), *args)

    def tuple(self, children):
        items = _items(children)
        return self._deep(n.Seq(items, self._between(children[0], children[-1])), *items)

    list = tuple

    def index(self, children):
        target, _, index, close = children
        return self._deep(n.Index(target, index, self._between(target, close)), target, index)

    def attr(self, children):
        target, _, name = children
        return self._deep(n.Attr(target, str(name), self._between(target, name)), target)

    def _binary(op):
        def build(self, children):
            left, _, right = children
            return self._deep(n.Binary(op, left, right, self._between(left, right)), left, right)
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
    del _binary

    def compare(self, children):
        left, op, right = children
        return self._deep(n.Binary(str(op), left, right, self._between(left, right)),
                          left, right)

    def conditional(self, children):
        then, _, condition, _, orelse = children
        return self._deep(n.Conditional(condition, then, orelse, self._between(then, orelse)),
                          condition, then, orelse)

    def _unary(op):
        def build(self, children):
            sign, operand = children
            return self._deep(n.Unary(op, operand, self._between(sign, operand)), operand)
        return build

    not_ = _unary("not")
    neg = _unary("-")
    pos = _unary("+")
    del _unary


def _items(children) -> tuple:
    """The expressions among a bracketed list's children (not its tokens or gaps)."""
    return tuple(c for c in children if c is not None and not isinstance(c, Token))


def _name(name) -> n.Name | None:
    """A stage, path, `as` or output name: a NAME token's text, or what `template` made."""
    return str(name) if isinstance(name, Token) else name.value if name is not None else None
