"""The Python API's own arguments are checked with clear messages (issue 18, item 14).

A wrong argument to load()/loads() is a mistake in the calling program: a
TypeError (wrong kind of value) or ValueError (right kind, out of range)
that names the argument. Mistakes in the spec, or in a network parameter's
value, stay CnnError diagnostics. Numbers from numpy are numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import cnndsl
from cnndsl.cli import main

TEXT = "network t(classes = 3, p = 0.5)\ninput [1, 8, 8]\nflatten dropout(p) linear(classes)\n"


@pytest.mark.parametrize("options, error, words", [
    (dict(dtype="bogus"), ValueError, "dtype must be one of bfloat16, float16, float32"),
    (dict(dtype=None), TypeError, "dtype must be one of"),
    (dict(input_shape=5), TypeError, "input_shape must be a tuple of sizes"),
    (dict(input_shape=(1, 8.0, 8)), TypeError, "input_shape must hold integers"),
    (dict(input_shape=(True, 8, 8)), TypeError, "input_shape must hold integers"),
    (dict(max_nodes=None), TypeError, "max_nodes must be a positive integer, got None"),
    (dict(max_nodes=0), ValueError, "max_nodes must be a positive integer, got 0"),
    (dict(max_bytes="16M"), TypeError, "max_bytes must be a positive integer"),
], ids=lambda v: "-".join(f"{k}={v[k]!r}" for k in v) if isinstance(v, dict) else None)
def test_options_of_the_wrong_kind_name_themselves(options, error, words):
    with pytest.raises(error, match=words):
        cnndsl.loads(TEXT, **options)


@pytest.mark.parametrize("text, words", [
    (TEXT.encode(), "takes the spec's text as a str, got bytes .decode it first"),
    (None, "takes the spec's text as a str, got NoneType"),
], ids=["bytes", "None"])
def test_loads_wants_text(text, words):
    with pytest.raises(TypeError, match=words):
        cnndsl.loads(text)


def test_load_wants_a_path():
    with pytest.raises(TypeError, match="takes a path"):
        cnndsl.load(None)


def test_a_huge_bad_value_is_not_printed_whole():
    with pytest.raises(TypeError) as info:
        cnndsl.loads(TEXT, input_shape="x" * 1_000_000)
    assert len(str(info.value)) < 200


def test_a_network_parameter_may_be_called_file(tmp_path, capsys):
    text = "network t(file = 3)\ninput [1, 8, 8]\nflatten linear(file)\n"
    spec = tmp_path / "t.cnn"
    spec.write_text(text)
    assert cnndsl.load(spec, file=5).output_shape == (5,)
    assert cnndsl.loads(text, "t.cnn", file=6).output_shape == (6,)
    assert main(["check", str(spec), "--set", "file=7", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == [7]


def test_set_refuses_names_taken_by_options(tmp_path, capsys):
    spec = tmp_path / "t.cnn"
    spec.write_text(TEXT)
    with pytest.raises(SystemExit) as info:
        main(["check", str(spec), "--set", "dtype=3"])
    assert info.value.code == 2 and "name is taken by an option" in capsys.readouterr().err


def test_numbers_from_numpy_are_numbers():
    net = cnndsl.loads(TEXT, classes=np.int64(10), p=np.float32(0.25),
                       input_shape=(np.int32(1), np.int64(4), np.uint8(4)))
    assert net.output_shape == (10,) and net.input_shape == (1, 4, 4)
    assert type(net.graph.graph["settings"]["classes"]) is int
    assert net.graph.graph["settings"]["p"] == 0.25
    with pytest.raises(cnndsl.CnnError, match="E0206"):
        cnndsl.loads(TEXT, classes=np.array([1, 2]))  # an array is no spec value


def test_bad_parameter_values_stay_diagnostics():
    with pytest.raises(cnndsl.CnnError) as info:
        cnndsl.loads(TEXT, classes=np.uint64(2**64 - 1))  # past 2**63
    assert [d.code for d in info.value.diagnostics] == ["E0206"]


def test_messages_about_parameters_speak_python_to_python_callers():
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads("network t(classes = 1)\ninput [1, 4, 4]\nrelu", clases=3)
    assert "`clases=`" in err.value.render() and "--set" not in err.value.render()
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads("network t(c)\ninput [1, 4, 4]\nrelu")
    assert "pass `c=...`" in err.value.render()
