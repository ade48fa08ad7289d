"""Conditional expressions: `a if cond else b`, Python's syntax and precedence.

Statements have no separators, so `s = 2 if c ...` could be `s = 2` and an
`if` statement. The rule: a conditional that is the whole value of an
assignment is written in parentheses; anywhere else it needs none. The
grammar stays LALR(1) without conflicts (checked here), and the
forbidden form gets an E0101 that says what to write.
"""

import io
import logging

import lark
import pytest

import cnndsl
from cnndsl import CnnError, parser

HEAD = "network t\ninput [3, 32, 32]\n"


def net(body, head=HEAD, **kw):
    return cnndsl.loads(head + body, **kw)


def value(expr):
    """What ``expr`` evaluates to, read back as a conv's channel count."""
    return net(f"x = ({expr})\nconv(x, k=1)").output_shape[0]


def errors(body, head=HEAD):
    with pytest.raises(CnnError) as info:
        net(body, head)
    return info.value.diagnostics


def test_in_call_arguments_a_loop_picks_the_stride_of_its_first_turn():
    n = net("for i in range(3) { conv(4, k=3, s=2 if i == 0 else 1, p=1) }")
    assert [n.graph.nodes[v]["shape"] for v in n.layers()] == [(4, 16, 16)] * 3


@pytest.mark.parametrize("expr,expected", [
    ("1 if true else 2", 1),
    ("1 if false else 2", 2),
    ("1 if false or true else 2", 1),          # the condition takes `or`: lowest precedence
    ("2 + 3 if false else 4 * 2", 8),          # both branches take arithmetic whole
    ("1 if false else 2 if false else 3", 3),  # chains to the right, as in Python
    ("(1 if true else 2) + 10", 11),
    ("[5, 6 if false else 7][1]", 7),          # a list item
    ("max(1 if true else 9, 4)", 4),           # a function argument
])
def test_values_and_precedence(expr, expected):
    assert value(expr) == expected


def test_network_parameter_defaults_and_tuples():
    head = "network t(big = false, c = 64 if big else 8, ks = (3 if big else 1, 1))\n" \
           "input [3, 32, 32]\n"
    assert net("conv(c, k=ks)", head).output_shape == (8, 32, 32)
    assert net("conv(c, k=ks)", head, big=True).output_shape == (64, 30, 32)


def test_only_the_chosen_branch_is_evaluated():
    assert value("1 if true else 1 // 0") == 1
    assert value("missing if false else 2") == 2
    assert value("(1, 2)[5] if false else 3") == 3


def test_the_condition_must_be_a_boolean():
    (d,) = errors("conv(4 if 1 else 8, k=1)")
    assert (d.code, d.span.column, d.span.end_column) == ("E0206", 11, 12)
    assert d.message == "a conditional expression needs a boolean condition"
    assert d.label == "this is an integer" and d.help == "compare it, as in `n != 0`"
    (d,) = errors("n = 2\nconv(4 if n else 8, k=1)")
    assert d.help == "compare it: `n != 0`"


def test_an_assignment_then_an_if_statement_still_reads_as_two_statements():
    n = net("x = 1\nif x == 1 { relu } else { sigmoid }\ny = x if_ = 2")
    assert [n.graph.nodes[v]["op"].name for v in n.layers()] == ["relu"]


def test_an_unparenthesised_conditional_assignment_says_what_to_write():
    ds = errors("for i in range(2) {\n    s = 2 if i == 0 else 1  # first\n}\nconv(4, k=)")
    first, second = ds
    assert first.code == "E0101" and first.message == \
        "a conditional expression as the value of `s = ...` needs parentheses"
    assert first.help == "write `s = (2 if i == 0 else 1)`"
    assert (first.span.line, first.span.column, first.span.end_column) == (4, 9, 25)
    assert "starts an `if` statement" in first.notes[0]
    assert second.span.line == 6  # recovery goes on past it


def test_parenthesised_it_is_fine_and_reads_the_loop_variable():
    n = net("for i in range(2) { s = (2 if i == 0 else 1)  conv(4, k=3, s=s, p=1) }")
    assert n.output_shape == (4, 16, 16)


def test_syntax_errors_do_not_list_if_after_a_complete_expression():
    (d,) = errors("conv(32 k=3)")
    assert d.message == "expected `,` or `)`, found name `k`"
    (d,) = errors("x = (1 if true)")
    assert d.message == "expected `else`, found `)`"


def test_the_grammar_has_no_lalr_conflicts():
    # lark resolves a shift/reduce conflict silently (as a shift) unless
    # asked; one here would make `x = a` followed by `if` misparse.
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    lark.logger.addHandler(handler)
    level = lark.logger.level
    lark.logger.setLevel(logging.DEBUG)
    try:
        lark.Lark(parser.grammar_path().read_text(encoding="utf-8"), debug=True,
                  **parser.OPTIONS)
    finally:
        lark.logger.removeHandler(handler)
        lark.logger.setLevel(level)
    assert "conflict" not in out.getvalue().lower(), out.getvalue()


def test_nested_conditionals_count_towards_the_expression_depth_limit():
    deep = "1"
    for _ in range(parser.MAX_EXPRESSION_DEPTH + 5):
        deep = f"(1 if true else {deep})"
    (d,) = errors(f"x = {deep}")
    assert d.code == "E0403"


def test_the_fix_for_a_long_line_stays_short():
    long = " + ".join(["1"] * 60)
    (d,) = errors(f"x = {long} if true else 2")
    assert d.help == "write `x = (... if ... else ...)`"
