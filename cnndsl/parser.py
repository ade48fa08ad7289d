"""Text to AST: the lark grammar in ``grammars/cnn.lark``, parsed LALR(1).

The parser builds the AST as it reduces (:mod:`cnndsl.ast_builder`, lark's
inline transformer): no parse tree, so a spec costs its tokens and its
nodes, nothing more. Syntax errors become diagnostics that say what was
expected in words ("expected a layer or `}`"), never lark's token names
(:mod:`cnndsl.syntax_errors`, which alone builds trees). Limits on tokens,
items and nesting are checked on the token stream as the parser pulls it
(:class:`_Guard`), so a hostile spec is refused before it is parsed.
lark runs with two plugins of :mod:`cnndsl.lark_plugins`: its own lexer and
LALR loop over its own tables, with less Python a token.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gc
import threading
from pathlib import Path as FilePath

import lark
from lark.lark import PostLex

from . import nodes as n
from . import parser_cache
from .ast_builder import INT_LIMIT, MAX_EXPRESSION_DEPTH, Builder, is_name, show_text, tok_span
from .diagnostics import CnnError, Diagnostic, Sources, Span

try:
    from .lark_plugins import PLUGINS
except ImportError:  # a lark whose internals moved: its own lexer and loop, slower
    PLUGINS = {}

__all__ = ["INT_LIMIT", "MAX_EXPRESSION_DEPTH", "is_name", "keywords", "max_tokens_for",
           "merge_kinds", "parse", "show_text"]

# Limits that keep every later walk (elaboration, evaluation) well inside
# Python's recursion limit, whatever the spec: statements nest through
# `{ ... }` bodies and `else if` chains, expressions through operators.
MAX_NESTING = 100  # MAX_EXPRESSION_DEPTH, for expressions, is counted by ast_builder
MAX_SYNTAX_ERRORS = 20
# Limits on the token stream, checked as the LALR parser pulls each token,
# so a hostile spec is refused after work linear in the limit (issue 18:
# a 400,000-item tuple took 29 s to parse, a 300,000-deep `else if` chain
# 41 s). Parsing costs 10-30 us a token; a written-out 100,000-layer
# spec has 650,000 tokens.
MAX_TOKENS = 1_000_000
BYTES_PER_TOKEN = 16  # raising the byte limit past 16 MB raises the token limit with it
MAX_ITEMS = 10_000  # items of one tuple, list, call or parameter list

# The parser: every token kept (spans run from a rule's first token to its
# last), the AST built as rules reduce. TREE_OPTIONS: the same grammar as
# trees with positions, for syntax_errors' recovery only.
OPTIONS = dict(parser="lalr", keep_all_tokens=True, maybe_placeholders=True)
TREE_OPTIONS = dict(parser="lalr", propagate_positions=True, maybe_placeholders=True)
# The parser's grammar adds one shortcut to the language's: an operand that
# is the whole expression (`3` in `conv(64, k=3)`, as most are) is reduced
# to an expression at once, not through the nine operator levels, when the
# token after it ends an expression. The priority settles the tie between
# the two reductions; the language, and so the AST, is the same (a written-
# out 10,000-layer spec parsed 26% faster). Syntax errors are described from
# the grammar as written, whose LALR states stop where people expect.
SHORTCUT = "\n%extend expr: lone\n?lone.2: atom\n"


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
def _parser() -> lark.Lark:
    # Building the LALR tables costs more than the rest of a small `check`:
    # they are cached, in the user's own cache directory (parser_cache), the
    # actions' object with them (the pickle names its class, not its code).
    grammar = grammar_path().read_text(encoding="utf-8") + SHORTCUT
    options = dict(OPTIONS, postlex=_Guard(), transformer=Builder(_segment), _plugins=PLUGINS)
    name = parser_cache.key(grammar, repr(sorted(OPTIONS.items())), _Guard.VERSION,
                            "ast", Builder.VERSION, "plugins", *sorted(PLUGINS))
    return parser_cache.load_or_build(name, lambda: lark.Lark(grammar, **options))


@functools.lru_cache(maxsize=None)
def _lark() -> lark.Lark:
    """The grammar's parser that builds trees with positions: syntax errors only."""
    grammar = grammar_path().read_text(encoding="utf-8")
    options = dict(TREE_OPTIONS, postlex=_Guard())
    name = parser_cache.key(grammar, repr(sorted(TREE_OPTIONS.items())), _Guard.VERSION)
    return parser_cache.load_or_build(name, lambda: lark.Lark(grammar, **options))


# One parse at a time uses the actions' state; a computed name's `{...}` is
# parsed inside a parse, by the same thread (hence re-entrant).
_PARSING = threading.RLock()


@contextlib.contextmanager
def _actions(file: str, place: tuple[int, int] | None = None):
    """The parser and its actions, set for one parse of ``file`` and restored after."""
    parser = _parser()
    builder = parser.options.transformer
    with _PARSING:
        saved = builder.state()
        builder.reset(file, place)
        try:
            yield parser, builder
        finally:
            builder.restore(saved)


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
        with _actions(file) as (parser, builder), _gc_paused():
            try:
                program = parser.parse(text)
            except _Refused as err:
                raise CnnError([err.diagnostic], Sources({file: text})) from None
            except lark.exceptions.UnexpectedInput as err:
                raise CnnError(_syntax_errors(err, text, file), Sources({file: text})) from None
            errors, too_deep = builder.errors, builder.too_deep
    finally:
        _LIMITS.reset(limits)
    if too_deep is not None:
        raise CnnError([_expression_too_deep(too_deep.span)], Sources({file: text}))
    if errors:
        raise CnnError(errors, Sources({file: text}))
    return program


def _segment(source: str, file: str, line: int, column: int):
    """The `{...}` of a computed name at ``line``:``column``, parsed as the input
    shape of a spec of its own: (expression or None, diagnostics, problem)."""
    prefix = "input ["
    with _actions(file, (line, column - len(prefix) - 1)) as (parser, builder):
        try:
            program = parser.parse(f"network _\n{prefix}{source}]")
        except (lark.exceptions.UnexpectedInput, _Refused):
            return None, [], "not an expression"
        too_deep, errors = builder.too_deep, builder.errors
    if too_deep is not None:
        return None, [], "nested too deep"
    # One expression and nothing else: `{1] relu [2}` is no way out of the braces.
    if len(program.input) != 1 or program.body or program.blocks:
        return None, [], "not one expression"
    return program.input[0], errors, ""


def _expression_too_deep(span: Span) -> Diagnostic:
    return Diagnostic("E0403", f"an expression nests more than {MAX_EXPRESSION_DEPTH} "
                      "operators deep", span, "this expression",
                      help="name parts of it with `name = ...` first")


def _syntax_errors(err: lark.exceptions.UnexpectedInput, text: str, file: str) -> list[Diagnostic]:
    from .syntax_errors import all_syntax_errors, syntax_diagnostic  # only when needed
    try:
        return all_syntax_errors(text, file) or [syntax_diagnostic(err, text, file)]
    except _Refused as refused:  # recovery lexes the whole text: the limits apply there too
        return [syntax_diagnostic(err, text, file), refused.diagnostic]


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while the AST is built.

    Its nodes are millions of objects that all live until the end; the
    collector would rescan them over and over for nothing (bench/bench_check.py).
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

_tok_span = tok_span  # for syntax_errors

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
    nesting of bodies and `else if` chains (E0403; the depth of
    expressions, which tokens do not show, is counted as they are built).
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
    return frozenset(t.pattern.value for t in _parser().terminals
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
