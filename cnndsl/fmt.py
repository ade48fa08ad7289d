"""`cnndsl fmt`: one canonical layout for a spec, comments kept in place.

The formatter changes whitespace and nothing else. It parses the spec with
every token kept (the grammar's own LALR tables, ``keep_all_tokens``), reads
the comments from the gaps between tokens, and writes the tokens back with
canonical spacing:

- one statement line stays one line: where the author broke lines between
  statements is kept (as gofmt keeps it), at most one blank line in a row,
  none after `{` or before `}`;
- a body whose `{` and `}` were on different lines opens and closes on lines
  of its own, indented 4 spaces per level; a one-line body stays on one line;
- `} else` on one line; statements on one line are separated by one space,
  two before a layer with arguments or a compound statement and after an
  `as` name (`conv(64, k=3) relu  maxpool(k=2)`, `bn as bn1  relu`);
- `k=3` in calls, `name = value` in parameters and assignments, one space
  around binary operators and after commas, none inside brackets;
- a line broken inside brackets continues one level deeper when the bracket
  ends its line, else aligned just after the bracket (as Python's visual
  indent); a closing bracket that starts a line goes back to the indentation
  of the line that opened it; a comment after code is set off by two spaces,
  one on its own line takes the indentation of the code around it;
- where opening or closing a body on its own line, or `} else`, would move a
  statement onto or off a line that an `# allow: CODE` comment covers (the
  comment's line, or the line under a comment line), the source's line breaks
  stay there: the same warnings stay allowed.

Meaning is preserved by construction and checked on every call: the
formatted text lexes to exactly the same tokens (and the same comments) as
the input, so it parses to the same program. A spec that does not parse is
refused with the parser's own diagnostics (:class:`CnnError`).
"""

from __future__ import annotations

import functools
import re

import lark
from lark import Token, Tree

from . import parser_cache
from .diagnostics import CnnError, allowed_codes, split_lines
from .parser import grammar_path, parse

INDENT = 4
_COMMENT = re.compile(r"#[^\n]*")
_OPEN = {"LBRACE": "RBRACE", "LPAR": "RPAR", "LSQB": "RSQB"}
_CLOSE = {"RBRACE", "RPAR", "RSQB"}
# Parent rules whose `(` follows a name with no space: conv(64), f(x), network n(a = 1).
_CALLS = {"call_args", "params", "fcall"}
# Rules whose subtrees are statements (or paths) at the level of a body.
_CONTAINERS = {"start", "body", "merge"}
_COMPOUND = {"stage", "repeat", "for_loop", "merge", "if_stmt"}


class FormatError(AssertionError):
    """The formatter would change the spec's tokens: a bug in cnndsl, never the spec's fault."""


@functools.lru_cache(maxsize=None)
def _lark() -> lark.Lark:
    grammar = grammar_path().read_text(encoding="utf-8")
    options = dict(parser="lalr", keep_all_tokens=True, maybe_placeholders=False)
    name = parser_cache.key(grammar, repr(sorted(options.items())), "fmt")
    return parser_cache.load_or_build(name, lambda: lark.Lark(grammar, **options))


class _Tok:
    """A token with what spacing needs to know of its place in the tree."""

    __slots__ = ("tok", "type", "rule", "stmt", "compound", "with_args", "multiline", "index")

    def __init__(self, tok: Token, rule: str):
        self.tok, self.type, self.rule = tok, tok.type, rule
        self.index = 0  # its place in the spec's tokens
        self.stmt = None  # the statement rule this token starts, if it starts one
        self.compound = False
        self.with_args = False  # starts a layer that has arguments
        self.multiline = False  # a `{` or `(`/`[` whose closer is on another source line


def _tokens(tree: Tree) -> list[_Tok]:
    """Every token of ``tree`` in order, marked with its parent rule and statement starts.

    Iterative: a spec may nest as deep as the parser's limits allow.
    """
    out: list[_Tok] = []
    pending: list[Tree] = []  # statements whose first token is still to come
    stack: list = [(tree, None, False)]
    while stack:
        node, parent, starts = stack.pop()
        if isinstance(node, Token):
            t = _Tok(node, parent)
            if pending:
                first = pending[0]
                t.stmt = first.data
                t.compound = first.data in _COMPOUND
                t.with_args = first.data == "layer" and any(
                    isinstance(c, Tree) and c.data == "call_args" for c in first.children)
                pending.clear()
            t.index = len(out)
            out.append(t)
            continue
        if starts:
            pending.append(node)
        container = node.data in _CONTAINERS
        for child in reversed(node.children):
            starts_child = container and isinstance(child, Tree)
            stack.append((child, node.data, starts_child))
    return out


def _comments(text: str, toks: list[_Tok]) -> list[tuple[int, int, str]]:
    """(start, end, text) of every comment: they lie in the gaps between tokens."""
    found = []
    prev = 0
    for t in [*toks, None]:
        end = t.tok.start_pos if t is not None else len(text)
        for m in _COMMENT.finditer(text, prev, end):
            found.append((m.start(), m.end(), m.group().rstrip()))
        if t is not None:
            prev = t.tok.end_pos
    return found


def _mark_multiline(toks: list[_Tok]) -> None:
    stack = []
    for t in toks:
        if t.type in _OPEN:
            stack.append(t)
        elif t.type in _CLOSE and stack:
            opener = stack.pop()
            opener.multiline = opener.tok.line != t.tok.line


def _space(prev: _Tok, t: _Tok, aliased: bool) -> str:
    """The spaces between two tokens on one line (``aliased``: ``prev`` ends an `as` name)."""
    p, k = prev.type, t.type
    if t.stmt and p != "LBRACE":  # statements on one line
        return "  " if t.with_args or t.compound or aliased else " "
    if k in ("RPAR", "RSQB", "COMMA") or p in ("LPAR", "LSQB"):
        return ""
    if p == "COMMA":
        return " "
    if k == "DOT" or p == "DOT":
        return ""
    if k == "LPAR" and t.rule in _CALLS and p == "NAME":
        return ""
    if k == "LSQB" and t.rule == "index":
        return ""
    if (k == "EQUAL" and t.rule == "kwarg") or (p == "EQUAL" and prev.rule == "kwarg"):
        return ""
    if p in ("MINUS", "PLUS") and prev.rule in ("neg", "pos"):
        return ""
    return " "


class _Writer:
    def __init__(self):
        self.lines: list[str] = []
        self.line = ""
        self.indent = 0  # of the current line

    def newline(self, indent: int, blank: bool) -> None:
        self.lines.append(self.line.rstrip())
        if blank and self.lines[-1]:
            self.lines.append("")
        self.indent = indent
        self.line = " " * indent

    def text(self) -> str:
        lines = self.lines + [self.line.rstrip()]
        while lines and not lines[0]:
            lines.pop(0)
        return "\n".join(lines).rstrip("\n") + "\n"


def _layout(text: str, toks: list[_Tok], comments: list, keep: frozenset = frozenset()) -> str:
    """The formatted text. Before a token of ``keep`` the source's own line break (or
    its absence) stands: no body opened or closed on a line of its own, no `} else`."""
    _mark_multiline(toks)
    atoms = sorted([(t.tok.start_pos, t.tok.end_pos, t) for t in toks]
                   + [(s, e, c) for s, e, c in comments], key=lambda a: a[0])
    w = _Writer()
    # Open brackets: (closer indent, contents indent, type).
    stack: list[tuple[int, int, str]] = []
    prev_end, prev_tok, prev_comment, before_prev = 0, None, False, None
    first = True
    for start, end, atom in atoms:
        if not isinstance(atom, str):
            kept = atom.index in keep
        gap = text[prev_end:start]
        breaks = gap.count("\n")
        blank = breaks > 1 and not (prev_tok is not None and not prev_comment
                                    and prev_tok.type in _OPEN)
        contents = stack[-1][1] if stack else 0
        if isinstance(atom, str):  # a comment
            if first:
                w.line = atom
            elif breaks == 0 and not prev_comment:
                w.line += "  " + atom
            else:
                w.newline(contents, blank)
                w.line += atom
            prev_comment = True
        else:
            t = atom
            if first:
                w.line = t.tok.value
            else:
                opener_break = prev_tok is not None and not prev_comment and not kept \
                    and prev_tok.type == "LBRACE" and prev_tok.multiline
                closer = t.type in _CLOSE
                closing_brace = t.type == "RBRACE" and stack and stack[-1][2] == "LBRACE-multi" \
                    and not kept
                joined_else = t.type == "ELSE" and not prev_comment and prev_tok.type == "RBRACE" \
                    and not kept
                if joined_else:
                    w.line += " "
                elif prev_comment or opener_break or closing_brace or breaks > 0:
                    if closer and stack:
                        indent, blank = stack[-1][0], False
                    elif t.stmt or t.type == "ELSE" or (stack and stack[-1][2] != "LBRACE-multi"
                                                        and stack[-1][2] != "LBRACE"):
                        indent = contents
                    else:
                        indent = contents + INDENT  # a statement continued on the next line
                    w.newline(indent, blank and not closer)
                else:
                    w.line += _space(prev_tok, t, before_prev == "AS")
                w.line += t.tok.value
            if t.type in _OPEN:
                hanging = _next_on_new_line(text, t)
                if t.type == "LBRACE":
                    kind = "LBRACE-multi" if t.multiline else "LBRACE"
                    stack.append((w.indent, w.indent + INDENT, kind))
                elif hanging:
                    stack.append((w.indent, w.indent + INDENT, t.type))
                else:  # contents align after the bracket; a closer on its own line does not
                    stack.append((w.indent, len(w.line), t.type))
            elif t.type in _CLOSE and stack:
                stack.pop()
            before_prev = prev_tok.type if prev_tok is not None else None
            prev_tok, prev_comment = t, False
        prev_end, first = end, False
    return w.text()


def _next_on_new_line(text: str, t: _Tok) -> bool:
    """Whether the source breaks the line right after this bracket (a comment counts)."""
    rest = text[t.tok.end_pos:]
    stripped = rest.lstrip(" \t\f\r")
    return stripped.startswith("\n") or stripped.startswith("#")


def _prepare(text: str) -> str:
    # A byte-order mark is whitespace to the parser (cnndsl.parser.parse): dropped here.
    return text[1:] if text.startswith("\ufeff") else text


def _lex(text: str) -> tuple[list[_Tok], list]:
    tree = _lark().parse(text)
    toks = _tokens(tree)
    return toks, _comments(text, toks)


def format_source(text: str, file: str = "<string>") -> str:
    """The canonical layout of spec ``text``; :class:`CnnError` if it does not parse.

    >>> text = "network n( c=3 )\\ninput [c,8,8]\\nconv( 4,k = 3 )   relu # x"
    >>> print(format_source(text), end="")
    network n(c = 3)
    input [c, 8, 8]
    conv(4, k=3) relu  # x
    """
    parse(text, file)  # refuses what is not a spec, with the parser's diagnostics and limits
    text = _prepare(text)
    try:
        toks, comments = _lex(text)
    except lark.exceptions.LarkError as err:  # the grammar accepted it above: cannot happen
        raise FormatError(f"{file}: the formatter's parse failed: {err}") from None
    # A layout that moves a statement to another line can change which `# allow:`
    # comment covers it: keep the source's line breaks on the lines where that
    # happens (and the next), until none does. Each round keeps more tokens; with
    # all of them kept every line holds what it held, so it ends.
    keep: frozenset = frozenset()
    while True:
        out = _layout(text, toks, comments, keep)
        again = _verify(toks, comments, out, file)
        moved = _allowance_changes(text, toks, out, again)
        if not moved or len(keep) == len(toks):
            return out
        keep = keep | moved if not moved <= keep else frozenset(range(len(toks)))


def _allowances(text: str, toks: list[_Tok]) -> list[frozenset]:
    """Per token, the warning codes its line allows: `# allow: CODE` on the line, or on
    a comment line just above it (:func:`cnndsl.diagnostics.split_allowed`'s rule)."""
    lines = split_lines(text)
    out = []
    for t in toks:
        line = t.tok.line
        codes = allowed_codes(lines[line - 1])
        above = lines[line - 2] if line > 1 else ""
        if above.lstrip().startswith("#"):
            codes = codes | allowed_codes(above)
        out.append(frozenset(codes))
    return out


def _allowance_changes(text: str, toks: list[_Tok], out: str, again: list[_Tok]) -> frozenset:
    """The tokens on the source lines of the statements whose allowed warnings changed
    (a warning points at its statement's first line), and on the lines after them."""
    if "allow" not in text:
        return frozenset()
    before, after = _allowances(text, toks), _allowances(out, again)
    lines = {t.tok.line for t, b, a in zip(toks, before, after) if a != b and t.stmt}
    return frozenset(t.index for t in toks if t.tok.line in lines or t.tok.line - 1 in lines)


def _verify(toks, comments, out: str, file: str) -> list[_Tok]:
    """The formatted text's tokens: the same as the original's, and the same comments,
    or FormatError."""
    try:
        again, again_comments = _lex(out)
    except lark.exceptions.LarkError as err:
        raise FormatError(f"{file}: formatted text does not parse: {err}") from None
    if [(t.type, t.tok.value) for t in toks] != [(t.type, t.tok.value) for t in again]:
        raise FormatError(f"{file}: formatting would change the spec's tokens")
    if [c[2] for c in comments] != [c[2] for c in again_comments]:
        raise FormatError(f"{file}: formatting would change the spec's comments")
    return again


def is_formatted(text: str, file: str = "<string>") -> bool:
    """Whether ``text`` is already in the canonical layout (CnnError if it does not parse)."""
    return format_source(text, file) == text


__all__ = ["CnnError", "FormatError", "format_source", "is_formatted"]
