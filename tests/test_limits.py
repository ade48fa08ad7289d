"""Limits: no spec can make cnndsl recurse, loop or allocate without bound.

Each limit is refused with its own diagnostic (a code, a span, the number)
before the work it guards is done. The tests count work (layers built,
iterations run) rather than time it: a refusal that does the work first
would show up here as built layers.
"""

from __future__ import annotations

import pytest

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
