"""Text to AST: the lark grammar in ``grammars/cnn.lark`` and a Transformer.

Syntax errors become diagnostics that say what was expected in words
("expected a layer or `}`"), never lark's token names. Limits on tokens,
items and nesting are checked on the token stream as the parser pulls it
(:class:`_Guard`), so a hostile spec is refused before it is parsed.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gc
import re
from pathlib import Path as FilePath

import lark
from lark import Token, Transformer_NonRecursive, Tree, v_args
from lark.lark import PostLex

from . import nodes as n
from . import parser_cache
from .diagnostics import CnnError, Diagnostic, Sources, Span, visible

# Limits that keep every later walk (elaboration, evaluation) well inside
# Python's recursion limit, whatever the spec: statements nest through
# `{ ... }` bodies and `else if` chains, expressions through operators.
MAX_NESTING = 100
MAX_EXPRESSION_DEPTH = 100
MAX_SYNTAX_ERRORS = 20
INT_LIMIT = 2**63  # as in cnndsl.expressions: larger literals are refused
# Limits on the token stream, checked as the LALR parser pulls each token,
# so a hostile spec is refused after work linear in the limit (issue 18:
# a 400,000-item tuple took 29 s to parse, a 300,000-deep `else if` chain
# 41 s). Parsing costs 10-30 us a token; a written-out 100,000-layer
# spec has 650,000 tokens.
MAX_TOKENS = 1_000_000
BYTES_PER_TOKEN = 16  # raising the byte limit past 16 MB raises the token limit with it
MAX_ITEMS = 10_000  # items of one tuple, list, call or parameter list

OPTIONS = dict(parser="lalr", propagate_positions=True, maybe_placeholders=True)


def max_tokens_for(max_bytes: int) -> int:
    """The token limit that goes with a byte limit: at least MAX_TOKENS."""
    return max(MAX_TOKENS, max_bytes // BYTES_PER_TOKEN)


def grammar_path() -> FilePath:
    """The grammar shipped in the wheel, or the repository's in a checkout."""
    here = FilePath(__file__).resolve().parent
    for candidate in (here / "grammars" / "cnn.lark", here.parent / "grammars" / "cnn.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("cnndsl's grammar (grammars/cnn.lark) is missing from the installation")


@functools.lru_cache(maxsize=None)
def _lark() -> lark.Lark:
    # Building the LALR tables costs more than the rest of a small `check`:
    # they are cached, in the user's own cache directory (parser_cache).
    grammar = grammar_path().read_text(encoding="utf-8")
    options = dict(OPTIONS, postlex=_Guard())
    name = parser_cache.key(grammar, repr(sorted(OPTIONS.items())), _Guard.VERSION)
    return parser_cache.load_or_build(name, lambda: lark.Lark(grammar, **options))


def parse(text: str, file: str = "<spec>", *, max_tokens: int = MAX_TOKENS) -> n.Program:
    """Parse spec text into a :class:`cnndsl.nodes.Program`; :class:`CnnError` if it
    is not a spec or passes a limit (``max_tokens`` tokens: see :func:`max_tokens_for`).

    >>> parse("network tiny\\ninput [1, 8, 8]\\nconv(4, k=3) relu").body[0].name
    'conv'
    """
    if text.startswith("\ufeff"):
        # A byte-order mark that some editors write: whitespace, same length
        # so every column still matches the text diagnostics quote.
        text = " " + text[1:]
    limits = _LIMITS.set((file, max_tokens))
    try:
        with _gc_paused():
            try:
                tree = _lark().parse(text)
            except _Refused as err:
                raise CnnError([err.diagnostic], Sources({file: text})) from None
            except lark.exceptions.UnexpectedInput as err:
                raise CnnError(_syntax_errors(err, text, file), Sources({file: text})) from None
            too_deep = _nesting_diagnostic(tree, file)
            if too_deep is not None:
                raise CnnError([too_deep], Sources({file: text}))
            builder = _ToAst(file)
            program = builder.transform(tree)
    finally:
        _LIMITS.reset(limits)
    if builder.errors:
        raise CnnError(builder.errors, Sources({file: text}))
    return program


def _syntax_errors(err: lark.exceptions.UnexpectedInput, text: str, file: str) -> list[Diagnostic]:
    from .syntax_errors import all_syntax_errors, syntax_diagnostic  # only when needed
    try:
        return all_syntax_errors(text, file) or [syntax_diagnostic(err, text, file)]
    except _Refused as refused:  # recovery lexes the whole text: the limits apply there too
        return [syntax_diagnostic(err, text, file), refused.diagnostic]


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


# ------------------------------------------------------------ token limits

_LIMITS: contextvars.ContextVar = contextvars.ContextVar("limits", default=("<spec>", MAX_TOKENS))
_OPENERS = {"LPAR", "LSQB", "LBRACE"}
_WATCHED = {*_OPENERS, "RPAR", "RSQB", "RBRACE", "COMMA", "IF"}


class _Refused(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class _Guard(PostLex):
    """Refuses a spec at the first token past a limit, before the parser builds on it.

    A lark post-lexer: it sees every token as the LALR parser pulls it, so
    refusing costs a scan of the text up to the limit, never a parse of
    the rest. Limits: the number of tokens, items in one bracket, and the
    nesting of bodies and `else if` chains counted exactly as
    :func:`_nesting_diagnostic` counts it (that walk still runs for
    expressions, whose depth tokens do not show).
    """

    VERSION = "2"  # part of the cache key: change it when this class changes
    always_accept = ()

    def process(self, stream):
        file, max_tokens = _LIMITS.get()
        opened: list = []  # per open bracket: [token, commas, is_body]
        chains: list = [0]  # `else if` links active at each body level
        nesting = 0  # bodies open plus active links: the E0403 count
        before, previous = None, None  # the previous token and its type
        merges = merge_kinds()
        closed = None  # a `}` closed a body at this level: an if chain there goes on only with `else`
        for count, tok in enumerate(stream, 1):
            if count > max_tokens:
                raise _Refused(_too_many_tokens(_tok_span(file, tok), count, max_tokens))
            kind = tok.type
            if closed is not None and kind != "ELSE":
                nesting -= chains[closed]
                chains[closed] = 0
            closed = None
            if kind in _WATCHED:  # most tokens are not: keep their path short
                if kind in _OPENERS:
                    # `concat {` opens the merge's list of paths, not a body
                    body = kind == "LBRACE" and not (before == "NAME" and previous in merges)
                    if body:
                        nesting += 1
                        if nesting > MAX_NESTING:
                            raise _Refused(_too_deep(_tok_span(file, tok), nesting))
                        chains.append(0)
                    opened.append([tok, 0, body])
                elif kind == "COMMA":
                    if opened and not opened[-1][2]:
                        opened[-1][1] += 1
                        if opened[-1][1] > MAX_ITEMS:
                            raise _Refused(_too_many_items(_tok_span(file, opened[-1][0])))
                elif kind == "IF":
                    if before == "ELSE":
                        chains[-1] += 1
                        nesting += 1
                        if nesting > MAX_NESTING:
                            raise _Refused(_too_deep(_tok_span(file, tok), nesting))
                elif opened:  # a closing bracket
                    if opened.pop()[2]:
                        nesting -= 1 + chains.pop()
                        closed = len(chains) - 1
            before, previous = kind, tok
            yield tok


@functools.lru_cache(maxsize=None)
def keywords() -> frozenset[str]:
    """The grammar's words (`stage`, `output`, `true`...): no name a spec gives may be one."""
    return frozenset(t.pattern.value for t in _lark().terminals
                     if t.pattern.type == "str" and is_name(t.pattern.value))


@functools.lru_cache(maxsize=None)
def merge_kinds() -> frozenset[str]:
    """The names that open a merge (`concat { path ... }`): the registry's merge ops."""
    from .ops import NAMES  # noqa: PLC0415 (the registry, not the grammar, knows them)
    return frozenset(name for name, op in NAMES.items() if op.many_inputs)


def _too_many_tokens(span: Span, count: int, limit: int) -> Diagnostic:
    return Diagnostic("E0405", f"the spec has more than {limit:,} tokens (names, numbers and "
                      "symbols)", span, f"token {count:,}",
                      help="write repeated layers with `repeat` or `for`, or raise --max-bytes "
                           f"(max_bytes=): every {BYTES_PER_TOKEN} bytes allow one more token")


def _too_many_items(span: Span) -> Diagnostic:
    return Diagnostic("E0405", f"a tuple, list or call has more than {MAX_ITEMS:,} items", span,
                      "this one", help="make long sequences with `range(...)` or a loop")


def _too_deep(span: Span, level: int) -> Diagnostic:
    return Diagnostic("E0403", f"blocks, loops, paths and conditionals nest more than "
                      f"{MAX_NESTING} deep", span, f"nesting level {level}",
                      help="split the spec into blocks that call each other")


# ------------------------------------------------------------------ nesting

_BODY_RULES = {"body"}
_STATEMENT_RULES = {"start", "block_def", "body", "layer", "call_args", "kwarg", "stage", "repeat",
                    "for_loop", "one_target", "tuple_target", "merge", "merge_kind", "path",
                    "if_stmt", "assign", "bind", "from_stmt", "output", "header", "params", "param",
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
                return _too_deep(_span(file, node.meta), nesting)
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


def _name(name) -> n.Name | None:
    """A stage, path or `as` name: a NAME token's text, or what `template` made."""
    return str(name) if isinstance(name, Token) else name


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_name(text: str) -> bool:
    """Whether ``text`` could be written as a NAME: what a computed name must give."""
    return _IDENTIFIER.fullmatch(text) is not None


def show_text(text: str, limit: int = 60) -> str:
    """A name's text for a message: backquoted, cut at ``limit`` characters."""
    shown = visible(text if len(text) <= limit else text[:limit - 3] + "...")
    return f"`{shown}`"


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    # Non-recursive: the tree's depth is checked first, but the walk should
    # not be the thing that decides how deep a spec may be.
    def __init__(self, file: str, place: tuple[int, int] | None = None):
        super().__init__()
        self.file = file
        # For the `{...}` of a computed name, parsed on its own: the line of
        # the name and how far its columns are shifted.
        self.place = place
        self.errors: list[Diagnostic] = []

    def _s(self, meta) -> Span:
        if self.place is None:
            return _span(self.file, meta)
        line, shift = self.place
        return Span(self.file, line, meta.column + shift, line, meta.end_column + shift)

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
        return n.Layer(str(name), args or (), _name(alias), self._s(meta),
                       _tok_span(self.file, name))

    def call_args(self, meta, children):
        return tuple(c if isinstance(c, n.Arg) else n.Arg(None, c, c.span) for c in _present(children))

    def kwarg(self, meta, children):
        name, value = children
        return n.Arg(str(name), value, self._s(meta))

    def stage(self, meta, children):
        name, body = children
        return n.Stage(_name(name), body, self._s(meta))

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
        return n.Merge(str(kind), tuple(paths), self._s(meta))

    def path(self, meta, children):
        name, body = children
        return n.Path(_name(name), body, self._s(meta))

    def out_template(self, meta, children):
        """An output's name: a template whose text need not be a Python name ("0")."""
        return self.template(meta, children, names_only=False)

    def template(self, meta, children, names_only: bool = True):
        """`"layer{i + 1}"`: the text between braces is parsed as an expression."""
        tok = children[0]
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
                return n.Template((), text, self._s(meta))
            parts.append(value)
            start = closing + 1
        parts = [p for p in parts if p != ""]
        if all(isinstance(p, str) for p in parts):  # no braces: a name written as a string
            name = "".join(parts)
            if not names_only and not name:
                self.errors.append(Diagnostic("E0206", "an output's name is empty",
                                              self._s(meta), help='write a name: `output "0"`'))
            if names_only and not is_name(name):
                self.errors.append(Diagnostic(
                    "E0206", f"{show_text(text)} is not a name", self._s(meta),
                    help="a name is letters, digits and `_`, not starting with a digit"))
            return name
        return n.Template(tuple(parts), text, self._s(meta), names_only)

    def _bad_template(self, tok: Token, start: int, end: int, label: str):
        span = Span(self.file, tok.line, tok.column + start, tok.line, tok.column + end)
        self.errors.append(Diagnostic("E0101", "a computed name holds expressions in `{...}`",
                                      span, label, help='write it like "layer{i + 1}"'))
        return n.Template((), str(tok), _tok_span(self.file, tok))

    def _segment(self, source: str, line: int, column: int) -> n.Expr | None:
        """The expression ``source`` found at ``line``:``column``, or None (an error)."""
        prefix = "input ["  # parsed as the input shape of a spec of its own
        inner = _ToAst(self.file, (line, column - len(prefix) - 1))
        try:
            tree = _lark().parse(f"network _\n{prefix}{source}]")
            problem = "nested too deep" if _nesting_diagnostic(tree, self.file) else ""
            program = None if problem else inner.transform(tree)
        except (lark.exceptions.UnexpectedInput, _Refused):
            problem, program = "not an expression", None
        # One expression and nothing else: `{1] relu [2}` is no way out of the braces.
        if program is not None and (len(program.input) != 1 or program.body or program.blocks):
            problem = "not one expression"
        if problem:
            span = Span(self.file, line, column, line, column + len(source))
            self.errors.append(Diagnostic("E0101", "a computed name holds expressions in "
                                          "`{...}`", span, problem))
            return None
        self.errors += inner.errors
        return program.input[0]

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

    def output(self, meta, children):
        name, flag = children
        if flag is not None and str(flag) != "training":
            self.errors.append(Diagnostic(
                "E0101", f"unknown output flag `{flag}`", _tok_span(self.file, flag),
                help="write `output NAME (training)` for an output of training mode only, "
                     "or `output NAME`"))
        return n.Output(str(name) if isinstance(name, str) else name, flag is not None,
                        self._s(meta))

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

    def conditional(self, meta, children):
        then, condition, orelse = children
        return n.Conditional(condition, then, orelse, self._s(meta))

    def not_(self, meta, children):
        return n.Unary("not", children[0], self._s(meta))

    def neg(self, meta, children):
        return n.Unary("-", children[0], self._s(meta))

    def pos(self, meta, children):
        return n.Unary("+", children[0], self._s(meta))
