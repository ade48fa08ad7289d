"""Names computed in loops: `stage "layer{i + 1}"`, `path "b{j}"`, `as "conv{k}"`,
and E0210 when a loop would give one name twice (issue 12, item 7)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnndsl
from cnndsl import CnnError

HEAD = "network t\ninput [3, 32, 32]\n"


def net(body, head=HEAD, **kw):
    return cnndsl.loads(head + body, **kw)


def errors(body, head=HEAD):
    with pytest.raises(CnnError) as info:
        net(body, head)
    return info.value.diagnostics


def test_stages_named_per_turn_as_torchvision_names_them():
    n = net("for i in range(3) { stage \"layer{i + 1}\" { conv(4, k=1) } }")
    assert n.layers() == ["layer1.conv_1", "layer2.conv_1", "layer3.conv_1"]


def test_paths_and_layers_named_per_turn_with_strings_and_several_parts():
    n = net('for (kind, j) in [("a", 0), ("b", 1)] {\n'
            '  add { path "{kind}_main{j}" { conv(3, k=1) as "conv{j}x{j + 1}" } path { } }\n}')
    assert n.layers() == ["a_main0.conv0x1", "add_1", "b_main1.conv1x2", "add_2"]


def test_a_string_without_braces_is_the_plain_name():
    assert net('stage "s" { relu as "r" }').layers() == net("stage s { relu as r }").layers()


def test_block_parameters_and_network_parameters_are_in_scope():
    n = net('block b(tag) { relu as "act_{tag}_{depth}" }\nb("x")',
            "network t(depth = 2)\ninput [3, 8, 8]\n")
    assert n.layers() == ["b_1.act_x_2"]


def test_a_literal_name_in_a_loop_names_the_loop_and_says_what_to_write():
    (d,) = errors("for i in range(3) {\n    stage s { conv(4, k=1) }\n}")
    assert d.code == "E0210"
    assert d.message == "the name `s` is already used here, by an earlier turn of the loop"
    assert (d.span.line, d.span.column) == (4, 5)
    assert d.notes == ("the `for` loop at <spec>:3:1 runs this `stage` once per turn, with the "
                       "same name each time",)
    assert d.help == 'compute a name per turn: `stage "s{i}" { ... }`'


def test_repeat_suggests_a_for_over_a_range():
    (d,) = errors("repeat 2 + 1 { conv(4, k=1) as c }")
    assert "the `repeat` loop at <spec>:3:1 runs this layer" in d.notes[0]
    assert d.help == ('loop with `for i in range(2 + 1) { ... }` and compute a name per turn: '
                      '`... as "c{i}"`')


def test_a_path_in_a_loop_with_tuple_targets():
    (d,) = errors("for (a, b) in [(1, 2), (3, 4)] { add { path main { } path { } } }")
    assert d.help == 'compute a name per turn: `path "main{a}_{b}" { ... }`'


def test_a_computed_name_that_repeats_says_in_which_turns():
    (d,) = errors('for i in range(4) { stage "s{i // 2}" { relu } }')
    assert d.message == "the name `s0` is already used here, by an earlier turn of the loop"
    assert d.notes == ('`"s{i // 2}"` gives `s0` in turn 2 of the `for` loop at <spec>:3:1, '
                       "as it did in turn 1",)


def test_inner_loops_are_told_apart_from_outer_ones():
    (d,) = errors('for i in range(2) { for j in range(2) { relu as "r{i}" } }')
    assert "turn 2 of the `for` loop at <spec>:3:21" in d.notes[0]


def test_a_duplicate_from_another_statement_in_a_loop_says_where_it_was_first_used():
    d = errors('for i in range(2) { relu as "r{i}"  sigmoid as "r{1 - i}" }')[0]
    assert d.message == "the name `r1` is already used here"
    assert d.notes == ("first used at <spec>:3:37, in turn 1 of the loop at <spec>:3:1",)


def test_the_old_message_outside_loops_is_unchanged():
    (d,) = errors("stage b1 { relu }\nstage b1 { relu }")
    assert (d.message, d.notes, d.help) == ("the name `b1` is already used here", (), "")


@pytest.mark.parametrize("name,shown", [('"a-{i}"', "`a-0`"), ('"{i}x"', "`0x`"),
                                        ('"x{i - 1}"', "`x-1`"), ('"a b"', '`"a b"`')])
def test_the_result_must_be_a_name(name, shown):
    (d,) = errors(f"for i in range(1) {{ stage {name} {{ relu }} }}")
    assert d.code == "E0206" and shown in d.message and "not a name" in d.message
    assert "letters, digits and `_`" in d.help


def test_values_must_be_integers_or_strings():
    (d,) = errors('relu as "r{1.5}"')
    assert d.code == "E0206"
    assert d.message == "a computed name takes integers and strings, got a number"
    assert (d.span.column, d.span.end_column) == (12, 15)  # the expression inside the braces


def test_errors_inside_braces_point_inside_the_string():
    (d,) = errors('stage "s{nope + 1}" { relu }')
    assert (d.code, d.span.line, d.span.column, d.span.end_column) == ("E0209", 3, 10, 14)


@pytest.mark.parametrize("name,label,column", [
    ('"a{i"', "this `{` is not closed", 9), ('"a}"', "this `}` closes nothing", 9),
    ('"a{ }"', "empty `{}`", 9), ('"a{1 +}"', "not an expression", 10),
])
def test_malformed_braces_are_syntax_errors(name, label, column):
    (d,) = errors(f"stage {name} {{ relu }}")
    assert (d.code, d.label, d.span.column) == ("E0101", label, column)


def test_a_deep_expression_inside_braces_is_refused():
    deep = "-" * 150 + "1"
    (d,) = errors(f'relu as "r{{{deep}}}"')
    assert d.code == "E0101" and d.label == "nested too deep"


def test_a_missing_name_is_described_as_a_name():
    (d,) = errors("stage { relu }")
    assert d.message == "expected a name, found `{`"


@given(st.text(st.characters(blacklist_characters='"\n\r', blacklist_categories=("Cs",)),
               max_size=30))
@settings(max_examples=300, deadline=None)
def test_any_string_as_a_name_is_answered_with_a_name_or_a_diagnostic(text):
    spec = f'for i in range(2) {{ stage "{text}{{i}}" {{ relu }} }}'
    try:
        n = net(spec)
    except CnnError as err:
        for d in err.diagnostics:  # each points into the string's line
            assert d.span is None or d.span.line == 3
        return
    assert all(name.split(".")[0].isidentifier() for name in n.layers())


@pytest.mark.parametrize("inside", ["1] relu [2", "1] block b() { } x = [1", "1, 2", "1 # "])
def test_braces_hold_one_expression_and_nothing_else(inside):
    (d,) = errors(f'relu as "r{{{inside}}}"')
    assert d.code == "E0101" and d.label in ("not an expression", "not one expression")
