"""Text to AST: the lark grammar in ``grammars/cnn.lark`` and a Transformer.

Syntax errors become diagnostics that say what was expected in words
("expected a layer or `}`"), never lark's token names.
"""

from __future__ import annotations

import functools
from pathlib import Path as FilePath

import lark
from lark import Token, Transformer, v_args

from . import nodes as n
from .diagnostics import CnnError, Diagnostic, Sources, Span


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
    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedInput as err:
        raise CnnError([_syntax_diagnostic(err, text, file)], Sources({file: text})) from None
    return _ToAst(file).transform(tree)


# ------------------------------------------------------------------ AST build


def _span(file: str, meta) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(file: str, tok: Token) -> Span:
    return Span(file, tok.line, tok.column, tok.end_line, tok.end_column)


def _present(children):
    return [c for c in children if c is not None]


@v_args(meta=True)
class _ToAst(Transformer):
    def __init__(self, file: str):
        super().__init__()
        self.file = file

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
        return n.Const(int(str(children[0]).replace("_", "")), self._s(meta))

    def float(self, meta, children):
        return n.Const(float(str(children[0]).replace("_", "")), self._s(meta))

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


# -------------------------------------------------------------- syntax errors

_STATEMENT_STARTERS = {"STAGE", "REPEAT", "FOR", "IF", "CONCAT", "ADD", "FROM"}
_EXPRESSION_STARTERS = {"INT", "FLOAT", "STRING", "TRUE", "FALSE", "IN", "LSQB", "MINUS", "PLUS", "NOT"}
_WORDS = {
    "NAME": "a name", "INT": "a number", "FLOAT": "a number", "STRING": "a string",
    "$END": "the end of the file", "COMPARE": "a comparison",
}


def _terminal_text(name: str) -> str | None:
    try:
        pattern = _lark().get_terminal(name).pattern
    except KeyError:
        return None
    return pattern.value if pattern.type == "str" else None


def _describe_expected(expected: set[str]) -> str:
    expected = set(expected)
    words: list[str] = []
    if expected & _STATEMENT_STARTERS and "NAME" in expected:
        words.append("a layer")
        expected -= _STATEMENT_STARTERS | {"NAME", "__ANON_0", "EQUAL", "AS", "LPAR"}
        expected -= {t for t in expected if _terminal_text(t) == "->"}
        if "BLOCK" in expected:
            expected.discard("BLOCK")
            words.append("a block")
    elif expected & _EXPRESSION_STARTERS and ("NAME" in expected or "INT" in expected):
        words.append("an expression")
        expected -= _EXPRESSION_STARTERS | {"NAME", "LPAR"}
    if "INT" in expected and "FLOAT" in expected:
        expected.discard("FLOAT")
    for name in sorted(expected, key=lambda t: (t == "$END", t)):
        text = _terminal_text(name)
        words.append(_WORDS.get(name) or (f"`{text}`" if text else name.lower()))
    if not words:
        return "something else"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    if tok.type == "NAME":
        return f"name `{tok}`"
    if tok.type in ("INT", "FLOAT"):
        return f"number `{tok}`"
    return f"`{tok}`"


def _syntax_diagnostic(err: lark.exceptions.UnexpectedInput, text: str, file: str) -> Diagnostic:
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        span = Span(file, err.line, err.column, err.line, err.column + 1)
        return Diagnostic("E0102", f"unexpected character `{ch}`", span,
                          "not part of the language")
    tok = err.token
    # The interactive parser knows exactly which tokens fit here; the
    # exception's own `expected` is the LALR state's looser lookahead set.
    accepts = err.interactive_parser.accepts() if err.interactive_parser else err.expected
    expected = _describe_expected(accepts or err.expected)
    if tok.type == "$END":
        lines = text.splitlines() or [""]
        line = len(lines)
        col = len(lines[-1]) + 1
        span = Span(file, line, col, line, col + 1)
        return Diagnostic("E0101", f"expected {expected}, found the end of the file", span,
                          "the file ends here")
    span = _tok_span(file, tok)
    return Diagnostic("E0101", f"expected {expected}, found {_describe_token(tok)}", span,
                      "unexpected here")
