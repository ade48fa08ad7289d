"""Syntax errors in words people use, and recovery to report several at once.

lark's LALR parser stops at the first unexpected token; here the
interactive parser is resumed past each error so one run reports every
independent syntax error (up to MAX_SYNTAX_ERRORS), each saying what was
expected ("expected a layer or `}`"), never lark's token names.
"""

from __future__ import annotations

import lark
from lark import Token, Tree

from .diagnostics import Diagnostic, Span, split_lines
from .parser import MAX_SYNTAX_ERRORS, _lark, _tok_span, merge_kinds

_STATEMENT_STARTERS = {"STAGE", "REPEAT", "FOR", "IF", "FROM", "OUTPUT"}
_EXPRESSION_STARTERS = {"INT", "FLOAT", "STRING", "TRUE", "FALSE", "IN", "LSQB", "MINUS", "PLUS", "NOT"}
# Tokens that begin a line in a well-formed spec: one of them found on a
# new line means something is missing at the end of the line before.
_LINE_STARTERS = _STATEMENT_STARTERS | {"NAME", "BLOCK", "PATH", "RBRACE", "ELSE"}
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
    if "OR" in expected:
        # A complete expression could go on with `or` or `if ... else ...`:
        # true, but not what anyone missed. Operators are listed in full only
        # where the parser stands inside a term (it then expects `and` too).
        expected.discard("IF")
        if "AND" not in expected:
            expected.discard("OR")
    if {"NAME", "STRING"} <= expected and "INT" not in expected:
        # after `stage`, `path` or `as`: a name, or a computed one ("layer{i}")
        words.append("a name")
        expected -= {"NAME", "STRING"}
    if expected & _STATEMENT_STARTERS and "NAME" in expected:
        words.append("a layer")
        # LBRACE: after a name, `{` fits only a merge (`concat {`), not worth a word
        expected -= _STATEMENT_STARTERS | {"NAME", "__ANON_0", "EQUAL", "AS", "LPAR", "LBRACE"}
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


def syntax_diagnostic(err: lark.exceptions.UnexpectedInput, text: str, file: str,
                       previous: Token | None = None, unclosed: Token | None = None) -> Diagnostic:
    """The diagnostic for one lark error. ``previous`` is the token before the
    unexpected one, ``unclosed`` the innermost `{` never closed."""
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        span = Span(file, err.line, err.column, err.line, err.column + 1)
        if ch == '"':
            return Diagnostic("E0102", "unterminated string", span, "this string has no closing `\"`",
                              help="strings end on the line they start")
        shown = f"`{ch}`" if ch.isprintable() else f"U+{ord(ch):04X}" if ch else "end of input"
        return Diagnostic("E0102", f"unexpected character {shown}", span,
                          "not part of the language")
    tok = err.token
    # The interactive parser knows exactly which tokens fit here; the
    # exception's own `expected` is the LALR state's looser lookahead set.
    accepts = err.interactive_parser.accepts() if err.interactive_parser else err.expected
    expected = _describe_expected(accepts or err.expected)
    if tok.type == "$END":
        lines = split_lines(text)  # as lark counts them
        if len(lines) > 1 and lines[-1] == "":
            lines.pop()
        line = len(lines)
        col = len(lines[-1]) + 1
        span = Span(file, line, col, line, col + 1)
        notes = ((f"the `{{` at {unclosed.line}:{unclosed.column} is never closed",)
                 if unclosed is not None else ())
        return Diagnostic("E0101", f"expected {expected}, found the end of the file", span,
                          "the file ends here", notes)
    assign = _assigned_conditional(err.interactive_parser, tok)
    if assign is not None:
        return _conditional_diagnostic(assign, tok, text, file)
    message = f"expected {expected}, found {_describe_token(tok)}"
    hint = _hint(tok, set(accepts or err.expected), previous)
    if previous is not None and tok.line > previous.end_line and tok.type in _LINE_STARTERS:
        # Something is missing at the end of a line: point there, not at
        # the next line's first token.
        line, col = previous.end_line, previous.end_column
        return Diagnostic("E0101", message, Span(file, line, col, line, col + 1), "expected here",
                          help=hint)
    return Diagnostic("E0101", message, _tok_span(file, tok), "unexpected here", help=hint)


def _hint(tok: Token, accepted: set, previous: Token | None) -> str:
    """A fix for the mistakes people make most, or ''."""
    if tok.type == "PATH" and "PATH" not in accepted:
        kinds = " or ".join(f"`{k} {{ ... }}`" for k in sorted(merge_kinds()))
        return f"a `path` goes inside {kinds}"
    if tok.type == "RBRACE" and "RBRACE" not in accepted and "STAGE" in accepted:
        return "this `}` has no `{` to close"
    if tok.type == "COMPARE" and tok == "==" and "STAGE" in accepted:
        return "`name = value` assigns; `==` compares inside an expression"
    if tok.type == "LBRACE" and "LPAR" in accepted and previous is not None \
            and previous.type == "NAME":
        return f"a block declares its parameters, even none: `block {previous}() {{ ... }}`"
    return ""


def _assigned_conditional(parser, tok: Token) -> Tree | None:
    """The assignment before an `if` that this unexpected `else` shows was meant as a
    conditional expression: `s = 2 if first else 1`, read as `s = 2` and an `if`."""
    if tok.type != "ELSE" or parser is None:
        return None
    stack = parser.parser_state.value_stack  # ..., statements, `if`, its condition
    if len(stack) < 3 or not isinstance(stack[-2], Token) or stack[-2].type != "IF":
        return None
    last = stack[-3]
    while isinstance(last, Tree) and last.data.startswith("__") and last.children:
        last = last.children[-1]  # lark's list of statements: the last one
    return last if isinstance(last, Tree) and last.data == "assign" else None


def _conditional_diagnostic(assign: Tree, tok: Token, text: str, file: str) -> Diagnostic:
    name, value = assign.children
    written = " ".join(text[value.meta.start_pos:tok.start_pos].split())
    after = _code(text[tok.end_pos:].split("\n", 1)[0])
    fix = f"{name} = ({written} else {after or '...'})"
    if len(fix) > 100:  # a help line, not a copy of a long line
        fix = f"{name} = (... if ... else ...)"
    same_line = value.meta.line == tok.line
    span = Span(file, value.meta.line, value.meta.column if same_line else tok.column,
                tok.end_line, tok.end_column)
    return Diagnostic("E0101", f"a conditional expression as the value of `{name} = ...` "
                      "needs parentheses", span, "this conditional",
                      notes=(f"without them, `{name} = ...` ends before `if`, which starts an "
                             "`if` statement",),
                      help=f"write `{fix}`")


def _code(line: str) -> str:
    """``line`` without its comment, its spaces collapsed."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            line = line[:i]
            break
    return " ".join(line.split())


# ---------------------------------------------------------- error recovery


def _tokens(text: str, file: str, found: list[Diagnostic]) -> list[Token]:
    """Every token of ``text``; a character no token starts with becomes an
    E0102 diagnostic and is blanked out, so lexing goes on past it."""
    while True:
        try:
            return list(_lark().lex(text))
        except lark.exceptions.UnexpectedCharacters as err:
            found.append(syntax_diagnostic(err, text, file))
            if len(found) >= MAX_SYNTAX_ERRORS:
                return []
            pos = err.pos_in_stream
            text = text[:pos] + " " + text[pos + 1:]  # same length: positions stay put


def all_syntax_errors(text: str, file: str) -> list[Diagnostic]:
    """Every independent syntax error, for one run to report them all.

    Panic-mode recovery on lark's interactive LALR parser: after an error,
    pop parser states back to one where a statement may start (it accepts
    `stage`), then skip tokens to the first one on a later line (or a `}`)
    that such a state accepts, and go on parsing from there.
    """
    found: list[Diagnostic] = []
    tokens = _tokens(text, file, found)
    parser = _lark().parse_interactive("")
    i = 0
    while i <= len(tokens) and len(found) < MAX_SYNTAX_ERRORS:
        try:
            if i == len(tokens):
                parser.feed_eof(tokens[-1] if tokens else None)
            else:
                parser.feed_token(tokens[i])
            i += 1
            continue
        except lark.exceptions.UnexpectedToken as err:
            err.interactive_parser = parser
            previous = tokens[i - 1] if 0 < i <= len(tokens) else None
            found.append(syntax_diagnostic(err, text, file, previous, _unclosed(tokens)))
            if i == len(tokens):
                break
        i = _resynchronise(parser, tokens, i)
        if i is None:
            break
    # In line order, one per line: a second error on a line is most often
    # the first one seen again (a stray `$` that stood for a `,`).
    lines: set = set()
    unique = []
    for d in sorted(found, key=lambda d: (d.span.line, d.span.column)):
        if d.span.line not in lines:
            lines.add(d.span.line)
            unique.append(d)
    return unique


def _unclosed(tokens: list[Token]) -> Token | None:
    """The innermost `{` that no `}` closes, if any."""
    opened = []
    for tok in tokens:
        if tok.type == "LBRACE":
            opened.append(tok)
        elif tok.type == "RBRACE" and opened:
            opened.pop()
    return opened[-1] if opened else None


def _resynchronise(parser, tokens: list[Token], i: int) -> int | None:
    """The index of the token to go on from after an error at ``tokens[i]``."""
    states = parser.parser_state.state_stack
    values = parser.parser_state.value_stack
    while len(states) > 1 and "STAGE" not in parser.accepts():
        states.pop()
        values.pop()
    accepted = parser.accepts()
    if "STAGE" not in accepted:
        return None  # an error in the header: nothing sensible to resume from
    line = tokens[i].line
    j = i + 1 if tokens[i].type != "RBRACE" else i
    while j < len(tokens):
        tok = tokens[j]
        if tok.type in accepted and (tok.line > line or tok.type == "RBRACE"):
            return j
        j += 1
    return j  # the end of the file
