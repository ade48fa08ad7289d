"""The parser builds the AST as lark reduces, with no parse tree (issue 13).

What users rely on: the same AST and the same diagnostics as the grammar as
written says, spans that cover what a construct's text covers, and a cost of
tokens and nodes only. The parser's grammar adds one shortcut (an operand
that is a whole expression skips the operator levels): a property test
proves it changes neither the language nor the AST. lark runs with two
plugins (cnndsl/lark_plugins.py: its lexer and LALR loop with less Python
a token); property tests prove they give lark's tokens, ASTs and errors.
"""

from __future__ import annotations

import functools

import lark
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnndsl import lark_plugins
from cnndsl import nodes as n
from cnndsl import parser
from cnndsl.ast_builder import Builder
from cnndsl.diagnostics import CnnError

HEAD = "network t\ninput [3, 8, 8]\n"


def _outcome(text: str):
    """The AST, or the diagnostics with their places."""
    try:
        return parser.parse(text, "t.cnn")
    except CnnError as err:
        return [(d.code, d.message, d.span, d.label) for d in err.diagnostics]


@functools.lru_cache(maxsize=None)
def _without_shortcut() -> lark.Lark:
    grammar = parser.grammar_path().read_text(encoding="utf-8")
    return lark.Lark(grammar, **parser.OPTIONS, postlex=parser._Guard(), transformer=Builder(parser._segment))


_ATOMS = st.sampled_from(["1", "x", "in", "2.5", '"s"', "true", "f(1)", "(1,)", "[]", "()",
                          "in.shape[0]", "1_000", "007"])
_OPERATORS = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "==", "<", ">=", "and", "or"])
_EXPRESSIONS = st.recursive(_ATOMS, lambda e: st.one_of(
    st.tuples(e, _OPERATORS, e).map(" ".join),
    e.map("({})".format), e.map("-{}".format), e.map("not {}".format),
    e.map("{}[0]".format), e.map("{}.shape".format),
    st.tuples(e, e, e).map(lambda t: f"{t[0]} if {t[1]} else {t[2]}"),
    st.lists(e, max_size=3).map(lambda items: "f(" + ", ".join(items) + ")"),
    st.lists(e, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
), max_leaves=8)
_STATEMENTS = st.one_of(
    _EXPRESSIONS.map("x = ({})".format), _EXPRESSIONS.map("x = {}".format),
    st.tuples(_EXPRESSIONS, _EXPRESSIONS).map(lambda t: f"conv({t[0]}, k={t[1]})"),
    _EXPRESSIONS.map("repeat {} {{ relu }}".format),
    _EXPRESSIONS.map("if {} {{ relu }} else {{ relu }}".format),
    _EXPRESSIONS.map("for i in {} {{ relu }}".format),
    _EXPRESSIONS.map('relu as "r{{{}}}"'.format),
)
# Fragments in any order: mostly not specs at all, so errors are compared too.
_SOUP = st.lists(st.sampled_from(list("(),[]{}=+-*/.<>") + ["if", "else", "1", "x", "in", "not",
                                                              "and", "conv", "relu", "\n"]),
                 max_size=20).map(" ".join)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.lists(_STATEMENTS, min_size=1, max_size=4).map("\n".join),
                 _SOUP.map("x = {}".format), _SOUP))
def test_the_shortcut_changes_neither_the_language_nor_the_ast(body):
    text = HEAD + body
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parser, "_parser", _without_shortcut)
        written = _outcome(text)
    assert _outcome(text) == written


def test_no_parse_tree_is_built(monkeypatch):
    made = []
    original = lark.Tree.__init__

    def counting(self, *args, **kwargs):
        made.append(self)
        original(self, *args, **kwargs)

    parser._parser()  # loading the tables is not parsing
    monkeypatch.setattr(lark.Tree, "__init__", counting)
    program = parser.parse(HEAD + "stage s { conv(8, k=3, p=1) relu }\n"
                           "concat { path { relu } path a { conv(4, k=1) } }\n"
                           "x = (1 + 2) * f(3)[0]\nif x > 1 { relu } else if x { relu }")
    assert len(program.body) == 4
    # Only lark's own repetition helpers (`item*` is a rule `__start_star_0`),
    # which it splices into the parent's children: none of the grammar's rules.
    assert made and all(tree.data.startswith("__") for tree in made)


def _spans(text: str, line: int):
    """(text of each span on ``line``) of the statement there, by node kind."""
    program = parser.parse(HEAD + text)
    return program, (HEAD + text).splitlines()[line - 1]


def _cut(line_text: str, span) -> str:
    return line_text[span.column - 1:span.end_column - 1]


def test_spans_cover_what_the_text_covers():
    program, line = _spans("x = (1 + 2) * f(3)[0]", 3)
    (assign,) = program.body
    product = assign.value
    assert _cut(line, assign.span) == "x = (1 + 2) * f(3)[0]"
    assert _cut(line, product.span) == "(1 + 2) * f(3)[0]"  # the brackets count for the parent
    assert _cut(line, product.left.span) == "1 + 2"  # and not for the expression inside
    assert _cut(line, product.right.span) == "f(3)[0]"

    program, line = _spans("conv(8, k=3) as \"c{1}\"", 3)
    (layer,) = program.body
    assert _cut(line, layer.span) == 'conv(8, k=3) as "c{1}"'
    assert _cut(line, layer.name_span) == "conv"
    assert [_cut(line, a.span) for a in layer.args] == ["8", "k=3"]
    assert _cut(line, layer.alias.span) == '"c{1}"'
    assert _cut(line, layer.alias.parts[1].span) == "1"  # inside the braces, in the file's columns

    program, line = _spans("output aux (training)", 3)
    assert _cut(line, program.body[0].span) == "output aux (training)"
    assert _cut((HEAD).splitlines()[1], program.input_span) == "input [3, 8, 8]"


def test_statement_spans_run_to_the_closing_brace():
    text = HEAD + "stage s {\n  relu\n} if true { relu } else if false {\n  relu\n}"
    stage, cond = parser.parse(text).body
    assert (stage.span.line, stage.span.column, stage.span.end_line, stage.span.end_column) \
        == (3, 1, 5, 2)
    assert (cond.span.line, cond.span.end_line, cond.span.end_column) == (5, 7, 2)
    assert isinstance(cond.orelse[0], n.If) and cond.orelse[0].span.column == 25


def test_the_first_expression_too_deep_is_reported_whole():
    deep = "-" * 120 + "1"
    err = _outcome(HEAD + f"x = 1 + {deep}\ny = {deep}")
    assert [(code, span.line, span.column, span.end_column) for code, _, span, _ in err] \
        == [("E0403", 3, 5, 9 + len(deep))]


def test_a_parse_inside_a_parse_leaves_the_outer_one_whole():
    # A computed name's `{...}` is parsed while its spec is: the outer parse's
    # file, errors and depth are restored after.
    err = _outcome(HEAD + 'relu as "a{1 + 2}"\nconv(99999999999999999999)')
    assert [(code, span.file, span.line) for code, _, span, _ in err] == [("E0307", "t.cnn", 4)]
    ok = parser.parse(HEAD + 'relu as "a{1 + 2}" conv(4)', "x.cnn")
    assert ok.body[1].span.file == "x.cnn" and ok.body[0].alias.parts[1].span.file == "x.cnn"


# ----------------------------------------------------- lark's plugins (lark_plugins)

class _Recording(parser._Guard):
    """The guard, keeping every token the parser pulled through it."""

    def __init__(self):
        self.seen: list = []

    def process(self, stream):
        for tok in super().process(stream):
            self.seen.append((tok.type, str(tok), tok.start_pos, tok.line, tok.column,
                              tok.end_line, tok.end_column, tok.end_pos))
            yield tok


@functools.lru_cache(maxsize=None)
def _recording(plugins: bool) -> lark.Lark:
    grammar = parser.grammar_path().read_text(encoding="utf-8") + parser.SHORTCUT
    return lark.Lark(grammar, **parser.OPTIONS, postlex=_Recording(),
                     transformer=Builder(parser._segment),
                     _plugins=lark_plugins.PLUGINS if plugins else {})


def _run(plugins: bool, text: str):
    """lark's own outcome: the AST or the exception's facts, and the tokens pulled."""
    lark_parser = _recording(plugins)
    lark_parser.options.postlex.seen.clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parser, "_parser", lambda: lark_parser)
        with parser._actions("t.cnn") as (_, builder):
            try:
                outcome = lark_parser.parse(text)
            except lark.exceptions.UnexpectedInput as err:
                accepts = err.interactive_parser.accepts() if err.interactive_parser else None
                outcome = (type(err), err.pos_in_stream, err.line, err.column,
                           getattr(err, "token", None), sorted(getattr(err, "expected", ())),
                           sorted(accepts or ()), str(err).splitlines()[0])
            except parser._Refused as err:
                outcome = err.diagnostic
            outcome = (outcome, builder.errors)
        with patch.context() as inner:  # and as diagnostics, as users see them
            inner.setattr(parser, "_parser", lambda: lark_parser)
            shown = _outcome(text)
    return outcome, shown, list(lark_parser.options.postlex.seen)


# Text made to reach every corner of the lexer: comments, blank lines, tabs and
# carriage returns, unterminated strings, characters no terminal matches,
# numbers of every form, and keywords where a name is expected.
_LEXEMES = st.sampled_from(["conv", "relu", "(", ")", "8", "k", "=", ",", "\n", "\n\n", "\t",
                            "\r\n", "# note\n", "#", '"a{i}"', '"open', "1.5e3", ".5", "1_0",
                            "output", "in", "if", "else", "block", "stage", "@", "é", "{", "}",
                            "[", "]", "->", "x", "  "])


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.lists(_STATEMENTS, min_size=1, max_size=4).map("\n".join),
                 _SOUP, st.lists(_LEXEMES, max_size=30).map("".join),
                 st.lists(_LEXEMES, max_size=30).map(" ".join)))
def test_the_plugins_give_lark_s_tokens_asts_and_errors(body):
    text = HEAD + body
    assert _run(True, text) == _run(False, text)


def test_the_plugins_match_lark_on_every_spec():
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    specs = sorted((root / "specs").rglob("*.cnn"))
    assert len(specs) > 20
    for spec in specs:
        text = spec.read_text(encoding="utf-8")
        assert _run(True, text) == _run(False, text), spec


def test_the_plugins_do_the_work(monkeypatch):
    # lark's per-token lexer and parser step are not called on a good spec:
    # only the end of input goes through lark's own step.
    fed, lexed = [], []
    feed, next_token = lark.parsers.lalr_parser_state.ParserState.feed_token, \
        lark.lexer.BasicLexer.next_token
    monkeypatch.setattr(lark.parsers.lalr_parser_state.ParserState, "feed_token",
                        lambda self, tok, is_end=False: fed.append(tok) or feed(self, tok, is_end))
    monkeypatch.setattr(lark.lexer.BasicLexer, "next_token",
                        lambda self, *a: lexed.append(1) or next_token(self, *a))
    program = parser.parse(HEAD + "conv(8, k=3, p=1) # a comment\nrelu\nx = (1 + 2) * f(3)[0]")
    assert len(program.body) == 3
    assert [tok.type for tok in fed] == ["$END"] and not lexed


class _Toy(lark.Transformer):
    def WORD(self, tok):  # a token's own callback: lark's loop runs it
        return tok.upper()


def test_the_plugins_hand_over_to_lark_where_they_do_not_apply():
    # A state with 120 terminals (lark splits its scanner in several regular
    # expressions), an empty rule, a token callback, interactive parsing.
    words = " | ".join(f'"<{i}>"' for i in range(120))
    grammar = f"start: empty item* empty\nitem: {words} | WORD\nempty:\nWORD: /[a-z]+/\n%ignore \" \"\n"
    text = "<3> <119> abc <7>"

    def both(**options):
        return [lark.Lark(grammar, parser="lalr", **options, _plugins=plugins)
                for plugins in (lark_plugins.PLUGINS, {})]

    fast, stock = both()
    assert fast.parse(text) == stock.parse(text)
    assert fast.parse_interactive(text).exhaust_lexer() == stock.parse_interactive(text).exhaust_lexer()
    fast, stock = both(transformer=_Toy())
    assert fast.parse(text) == stock.parse(text)
    assert "ABC" in fast.parse(text).children[3].children
    for bad in ("<3> <1000>", "<3> W"):
        errors = []
        for each in (fast, stock):
            with pytest.raises(lark.exceptions.UnexpectedInput) as err:
                each.parse(bad)
            errors.append((type(err.value), err.value.pos_in_stream, str(err.value)[:40]))
        assert errors[0] == errors[1]
