"""Limits: no spec can make cnndsl recurse, loop or allocate without bound.

Each limit is refused with its own diagnostic (a code, a span, the number)
before the work it guards is done. The tests count work (layers built,
iterations run) rather than time it: a refusal that does the work first
would show up here as built layers.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lark import Tree

import cnndsl
from cnndsl import elaborate, parser
from cnndsl.cli import main
from cnndsl.diagnostics import CnnError

HEAD = "network t\ninput [3, 32, 32]\n"


def codes(text: str, **options) -> list[str]:
    with pytest.raises(CnnError) as info:
        cnndsl.loads(HEAD + text, **options)
    return [d.code for d in info.value.diagnostics]


def error(text: str, **options) -> CnnError:
    with pytest.raises(CnnError) as info:
        cnndsl.loads(HEAD + text, **options)
    return info.value


@pytest.fixture
def built(monkeypatch) -> list:
    """The node ids the elaborator adds, in order."""
    added: list = []
    original = elaborate.Elaborator._add_node

    def counting(self, op, args, inputs, span, scope, frame, local, paths=None):
        added.append(local)
        return original(self, op, args, inputs, span, scope, frame, local, paths)

    monkeypatch.setattr(elaborate.Elaborator, "_add_node", counting)
    return added


# ------------------------------------------------------------------ size


def test_a_billion_layer_repeat_is_refused_after_one_turn(built):
    err = error("repeat 1000000000 { relu }")
    assert [d.code for d in err.diagnostics] == ["E0401"]
    assert "1,000,000,001 layers" in err.diagnostics[0].message
    assert "limit of 1,000,000" in err.diagnostics[0].message
    assert len(built) == 1  # one turn measured the body, then the loop was refused


def test_nested_repeats_are_refused_without_expanding_them(built):
    assert codes("repeat 1000 { repeat 1000 { repeat 1000 { conv(4, k=1) } } }") == ["E0401"]
    assert len(built) <= 1001


def test_a_loop_of_empty_turns_is_refused_by_steps(built):
    err = error("for i in range(4611686018427387903) { x = i }")
    assert [d.code for d in err.diagnostics] == ["E0402"]
    assert not built


def test_max_nodes_is_exact():
    body = "repeat 9 { relu }"
    assert len(cnndsl.loads(HEAD + body, max_nodes=10).layers()) == 9  # 9 layers + the input
    assert codes(body, max_nodes=9) == ["E0401"]


def test_max_nodes_on_the_command_line(tmp_path, capsys):
    spec = tmp_path / "deep.cnn"
    spec.write_text(HEAD + "repeat 50 { relu }\n")
    assert main(["check", str(spec), "--max-nodes", "20"]) == 1
    err = capsys.readouterr().err
    assert "error[E0401]: this loop would expand to about 51 layers, more than the limit of 20" in err
    assert main(["check", str(spec), "--max-nodes", "100"]) == 0


# --------------------------------------------------------------- nesting


@pytest.mark.parametrize("text, code", [
    ("stage s { " * 10_000 + "relu" + " }" * 10_000, "E0403"),
    ("x = " + "-" * 10_000 + "1", "E0403"),
    ("x = 1" + " + 1" * 100_000, "E0403"),
    ("x = " + "[" * 10_000 + "]" * 10_000, "E0403"),
    ("x = " + "in" + ".shape[0]" * 10_000, "E0403"),
    ("if true { relu } " + "else if true { relu } " * 5_000, "E0403"),
])
def test_deep_nesting_is_a_diagnostic_not_a_recursion_error(text, code):
    err = error(text)
    assert [d.code for d in err.diagnostics] == [code]
    assert "more than 100" in err.diagnostics[0].message
    assert err.render()  # a 100,000-term line renders as a window, not a wall of text
    assert max(len(line) for line in err.render().splitlines()) < 250


def test_ten_thousand_parentheses_are_one_expression():
    # `(((1)))` is grouping, not nesting: it costs no depth at all.
    net = cnndsl.loads(HEAD + "c = " + "(" * 10_000 + "4" + ")" * 10_000 + "\nconv(c, k=1)")
    assert net.output_shape == (4, 32, 32)


def test_nesting_up_to_the_limit_is_fine():
    depth = parser.MAX_NESTING - 1
    net = cnndsl.loads(HEAD + "stage s { " * depth + "relu" + " }" * depth)
    assert len(net.layers()) == 1


def test_block_calls_nest_no_deeper_than_the_limit():
    blocks = "\n".join(f"block b{i}(c) {{ b{i + 1}(c) }}" for i in range(150))
    err = error(blocks + "\nblock b150(c) { conv(c, k=1) }\nb0(4)")
    assert [d.code for d in err.diagnostics] == ["E0403"]
    notes = err.diagnostics[0].notes
    assert len(notes) == 7 and "more enclosing block calls" in notes[3]  # shortened chain


@pytest.fixture
def parsed_whole(monkeypatch) -> list:
    """Texts whose every token reached the parser: a refusal at the token
    level leaves this empty. (The guard is the parser's post-lexer: it sees
    each token as the parser pulls it.)"""
    finished: list = []
    original = parser._Guard.process

    def counting(self, stream):
        count = 0
        for count, tok in enumerate(original(self, stream), 1):
            yield tok
        finished.append(count)

    monkeypatch.setattr(parser._Guard, "process", counting)
    return finished


def test_a_300k_deep_else_if_chain_is_refused_before_it_is_parsed(parsed_whole):
    # Issue 18: 41 s to parse, then refused by the tree walk.
    err = error("if false { relu }" + " else if false { relu }" * 300_000)
    (d,) = err.diagnostics
    assert d.code == "E0403" and d.label == "nesting level 101"
    assert d.span.column < 3_000  # the 100th link, not the end of the chain
    assert parsed_whole == []


def test_a_400k_item_tuple_is_refused_before_it_is_parsed(parsed_whole):
    # Issue 18: 29 s to parse an 800 KB literal.
    err = error("x = (" + ", ".join(["1"] * 400_000) + ")\nrelu")
    (d,) = err.diagnostics
    assert d.code == "E0405"
    assert d.message == "a tuple, list or call has more than 10,000 items"
    assert (d.span.line, d.span.column) == (3, 5)  # its opening bracket
    assert parsed_whole == []


@pytest.mark.parametrize("opening, closing", [("[", "]"), ("conv(", ")"), ("f(", ")")])
def test_items_up_to_the_limit_parse(opening, closing, parsed_whole):
    items = ", ".join(["1"] * parser.MAX_ITEMS) + ","  # a trailing comma is no item
    parser.parse(HEAD + "x = " + opening + items + closing)
    assert len(parsed_whole) == 1
    with pytest.raises(CnnError, match="more than 10,000 items"):
        parser.parse(HEAD + "x = " + opening + items + " 1, 1" + closing)


def test_the_token_limit(monkeypatch, parsed_whole):
    monkeypatch.setattr(parser, "MAX_TOKENS", 1_000)
    monkeypatch.setattr(parser, "BYTES_PER_TOKEN", 10**6)  # 16 MB: still 1,000 tokens
    layers = "relu\n" * 990  # 10 tokens of header and input, then a token a layer
    assert len(cnndsl.loads(HEAD + layers).layers()) == 990
    err = error(layers + "relu\n" * 100_000)
    (d,) = err.diagnostics
    assert d.code == "E0405" and d.message.startswith("the spec has more than 1,000 tokens")
    assert (d.span.line, d.label) == (2 + 991, "token 1,001")
    assert "raise --max-bytes" in d.help and len(parsed_whole) == 1
    # Raising the byte limit raises the token limit with it.
    assert cnndsl.loads(HEAD + layers + "relu\n" * 7, max_bytes=10**6 * 1_007)


def test_a_syntax_error_then_too_many_tokens_reports_both(monkeypatch):
    monkeypatch.setattr(parser, "MAX_TOKENS", 1_000)
    monkeypatch.setattr(parser, "BYTES_PER_TOKEN", 10**6)
    err = error("conv(4, k=)\n" + "relu\n" * 2_000)
    assert [d.code for d in err.diagnostics] == ["E0101", "E0405"]


_LEAF = st.sampled_from(["relu", "x = 1", "conv(4, k=1)"])


def _if_chain(parts) -> str:
    then, links, last = parts
    text = "if true { " + " ".join(then) + " }"
    text += "".join(" else if false { " + " ".join(b) + " }" for b in links)
    return text + (" else { " + " ".join(last) + " }" if last is not None else "")


_STATEMENTS = st.recursive(_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=3).map(lambda b: "stage s { " + " ".join(b) + " }"),
    st.lists(inner, max_size=3).map(lambda b: "repeat 1 { " + " ".join(b) + " }"),
    st.tuples(st.lists(inner, max_size=2), st.lists(st.lists(inner, max_size=2), max_size=4),
              st.none() | st.lists(inner, max_size=2)).map(_if_chain),
    st.lists(st.lists(inner, max_size=2), min_size=1, max_size=2).map(
        lambda paths: "concat { " + " ".join("path { " + " ".join(p) + " }" for p in paths) + " }"),
), max_leaves=40)


_BODIES = {"body"}


def _nesting_by_tree(tree: Tree, limit: int) -> str | None:
    """The reference count of E0403's nesting, on the parse tree: a `{ ... }` body
    is one level, and so is each `else if` (an if_stmt whose parent is one). The
    label the guard's diagnostic would carry, or None within the limit."""
    stack = [(tree, 0, False)]
    while stack:
        node, nesting, parent_if = stack.pop()
        if not isinstance(node, Tree):
            continue
        if node.data in _BODIES or node.data == "if_stmt" and parent_if:
            nesting += 1
            if nesting > limit:
                return f"nesting level {nesting}"
        for child in node.children:
            stack.append((child, nesting, node.data == "if_stmt"))
    return None


def _verdicts(text: str, limit: int):
    """(the token scan's E0403 or None, the tree walk's label) at a nesting limit of ``limit``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parser, "MAX_NESTING", 10**6)
        tree = parser._lark().parse(text)
        patch.setattr(parser, "MAX_NESTING", limit)
        by_tree = _nesting_by_tree(tree, limit)
        try:
            list(parser._lark().lex(text))
            return None, by_tree
        except parser._Refused as refused:
            return refused.diagnostic, by_tree


def _agree(text: str, limit: int) -> bool:
    by_scan, by_tree = _verdicts(text, limit)
    assert (by_scan is None) == (by_tree is None), text
    if by_tree is not None:
        assert by_scan.label == by_tree == f"nesting level {limit + 1}"
    return by_tree is None


@given(st.lists(_STATEMENTS, min_size=1, max_size=3), st.integers(1, 6))
def test_the_token_scan_counts_nesting_exactly_as_the_tree_walk(statements, limit):
    # The scan refuses early; it must refuse exactly what the tree walk would.
    _agree(HEAD + "block b() { " + statements[0] + " }\n" + "\n".join(statements), limit)


@pytest.mark.parametrize("text, limit, accepted", [
    ("if true { } else if false { } stage s { stage s { relu } }", 2, True),  # the chain ended
    ("if true { } else if false { } if true { } else if false { } else if false { }", 2, False),
    ("if true { } else if false { } if true { } else if false { } else if false { }", 3, True),
    ("if true { if true { } else if false { } relu } else if false { stage s { } }", 2, False),
    ("if true { if true { } else if false { } relu } else if false { stage s { } }", 3, True),
    ("if true { } else if false { } else { stage s { } }", 2, False),
    ("if true { } else if false { } else { concat { path { } } }", 3, True),
    ("stage s { if true { } else if true { } } stage t { stage u { stage v { } } }", 3, True),
])
def test_where_an_else_if_chain_ends(text, limit, accepted):
    assert _agree(HEAD + text, limit) == accepted


# ------------------------------------------------------------- recursion


@pytest.mark.parametrize("blocks, cycles", [
    ("block a() { a }", 1),
    ("block a() { relu b }\nblock b() { a }", 1),
    ("block a() { b }\nblock b() { c }\nblock c() { a }\nblock d() { d }", 2),
    ("block a() { concat { path { b } path { } } }\nblock b() { if true { a } }", 1),
])
def test_recursion_is_a_diagnostic(blocks, cycles):
    err = error(blocks + "\nrelu")
    assert [d.code for d in err.diagnostics] == ["E0208"] * cycles


def test_blocks_that_all_call_each_other_are_answered_once():
    # 14 blocks calling each other have billions of simple cycles; one
    # diagnostic per strongly connected set of blocks is enough.
    n = 14
    names = " ".join(f"b{j}" for j in range(n))
    blocks = "\n".join(f"block b{i}() {{ {names} }}" for i in range(n))
    assert codes(blocks + "\nb0") == ["E0208"]


# --------------------------------------------------------------- numbers


@pytest.mark.parametrize("text", [
    "conv(99999999999999999999, k=1)",
    "conv(" + "9" * 5000 + ", k=1)",  # int() itself refuses 5,000 digits
    "x = 1e999",
    "x = 2 ** 64",
    "x = 1e308 * 10",
    "x = int(1e300)",
    "x = len(range(-4611686018427387904, 4611686018427387904))",
])
def test_numbers_beyond_the_limits_are_diagnostics(text):
    assert codes(text) == ["E0307"]


def test_min_and_max_of_a_huge_range_do_not_walk_it():
    net = cnndsl.loads(HEAD + "conv(min(range(5, 10 ** 18)), k=1) conv(max(range(3, 9)), k=1)")
    assert net.output_shape == (8, 32, 32)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2**70, (1, float("nan")), object()])
def test_parameter_overrides_are_checked(value):
    text = "network t(width = 4)\ninput [3, 8, 8]\nconv(width, k=1)"
    with pytest.raises(CnnError) as info:
        cnndsl.loads(text, width=value)
    assert [d.code for d in info.value.diagnostics] == ["E0206"]


def test_set_on_the_command_line_cannot_evaluate_python(tmp_path, capsys):
    spec = tmp_path / "t.cnn"
    spec.write_text("network t(width = 4)\ninput [3, 8, 8]\nconv(width, k=1)\n")
    assert main(["check", str(spec), "--set", "width=__import__('os').getcwd()"]) == 1
    assert "argument `channels` of `conv`: expected an integer, got a string" in capsys.readouterr().err


# ------------------------------------------------------ no Python reached


@pytest.mark.parametrize("text", [
    "x = in.__class__",
    "x = (1, 2).__len__",
    "x = __import__(\"os\")",
    "x = eval(\"1\")",
    "x = getattr(in, \"shape\")",
])
def test_no_construct_reaches_python(text):
    assert codes(text) == ["E0209"]


# ----------------------------------------------------------- memory


def test_a_module_that_does_not_fit_is_refused_before_torch(monkeypatch):
    import cnndsl.backends.torch_module as backend

    def must_not_build(graph):
        raise AssertionError("the module was built")

    monkeypatch.setattr(backend, "build_module", must_not_build)
    monkeypatch.setenv("CNNDSL_MEMORY_LIMIT", "1000000")
    net = cnndsl.loads(HEAD + "flatten linear(4096)")
    assert [w.code for w in net.warnings] == ["W0401"]
    with pytest.raises(CnnError) as info:
        net.to_module()
    (d,) = info.value.diagnostics
    assert d.code == "E0404" and "12,587,008 parameters and buffers need 50.3MB" in d.message


def test_a_trillion_parameters_check_statically():
    net = cnndsl.loads(HEAD + "flatten linear(1000000) linear(1000000)")
    assert net.params == 3072 * 1_000_000 + 1_000_000 + 1_000_000 * 1_000_000 + 1_000_000
    assert "W0401" in [w.code for w in net.warnings]  # no machine here has 4 TB


GLOBAL_POOL = "network gap\ninput [3, 32, 32]\nconv(16, k=3, p=1) relu global_avgpool flatten linear(10)\n"


def test_an_export_counts_its_example_input_before_torch_allocates(tmp_path, monkeypatch,
                                                                   capsys):
    # Issue 18: --onnx at 3x40000x40000 was an allocator traceback (38 GB):
    # the budget counted parameters only, not the export's example input.
    import cnndsl.backends.torch_module as backend

    def must_not_run(*args, **kwargs):
        raise AssertionError("torch was asked to build or export")

    monkeypatch.setattr(backend, "build_module", must_not_run)
    monkeypatch.setattr(backend, "onnx_bytes", must_not_run)
    monkeypatch.setenv("CNNDSL_MEMORY_LIMIT", str(16 * 10**9))
    spec, out = tmp_path / "gap.cnn", tmp_path / "gap.onnx"
    spec.write_text(GLOBAL_POOL)
    assert main(["compile", str(spec), "--input", "3x40000x40000", "--onnx", str(out)]) == 1
    err = capsys.readouterr().err
    assert "error[E0404]: exporting needs 38.4GB" in err
    assert "the example input is 2 x 3x40000x40000 at float32: 38.4GB" in err
    assert "Traceback" not in err and not out.exists()


def test_an_export_that_fits_is_not_refused():
    from cnndsl.passes import budget
    net = cnndsl.loads(GLOBAL_POOL)
    example = 2 * 3 * 32 * 32 * 4
    weights = 2 * 4 * (16 * 3 * 9 + 16 + 16 * 10 + 10)  # the module and the file's copy
    assert budget.module_fits(net.graph, weights + example, example_batch=2) is None
    refused = budget.module_fits(net.graph, weights + example - 1, example_batch=2)
    assert refused.code == "E0404" and "exporting needs" in refused.message


@pytest.mark.parametrize("size", ["99999999999999999999", str(2**63)])
def test_input_sizes_are_capped_like_every_number(size, tmp_path, capsys):
    spec = tmp_path / "t.cnn"
    spec.write_text(HEAD + "relu\n")
    with pytest.raises(SystemExit) as info:
        main(["check", str(spec), "--input", f"3x{size}x9"])
    assert info.value.code == 2
    assert "--input sizes must be below 2**63" in capsys.readouterr().err
    with pytest.raises(ValueError, match="input_shape: sizes must be below 2\\*\\*63"):
        cnndsl.loads(HEAD + "relu", input_shape=(3, int(size), 9))


# ------------------------------------------------------- syntax errors


def test_many_syntax_errors_are_capped():
    err = error("\n".join("conv(4, k=)" for _ in range(200)))
    assert len(err.diagnostics) == parser.MAX_SYNTAX_ERRORS
    assert {d.code for d in err.diagnostics} == {"E0101"}


# ------------------------------------------------------------ many errors


def test_a_failing_loop_reports_once_and_stops(monkeypatch):
    turns = []
    original = elaborate.Elaborator._layer

    def counting(self, s, *args):
        turns.append(s.name)
        return original(self, s, *args)

    monkeypatch.setattr(elaborate.Elaborator, "_layer", counting)
    err = error("repeat 1000000 { conv(4, k=0) }")
    assert [d.code for d in err.diagnostics] == ["E0206"]
    assert len(turns) == 1  # the first turn failed; the other 999,999 were not run


def test_errors_stop_after_a_hundred():
    err = error("\n".join(f"conv({i + 1}, k=0)" for i in range(150)))
    assert len(err.diagnostics) == elaborate.MAX_ERRORS
    assert err.diagnostics[-1].notes[-1] == f"stopped after {elaborate.MAX_ERRORS} errors"
