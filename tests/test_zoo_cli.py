"""`zoo:NAME` wherever a spec path goes, and `cnndsl zoo`."""

from __future__ import annotations

import json

import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.zoo import ZOO


def test_load_takes_a_zoo_name_and_keyword_arguments_override_it():
    net = cnndsl.load("zoo:resnet50")
    assert net.params == 25_557_032
    assert cnndsl.load("zoo:resnet50", classes=10).output_shape == (10,)
    assert cnndsl.load("zoo:resnet50", input_shape=(3, 64, 64)).input_shape == (3, 64, 64)


def test_diagnostics_name_the_family_spec_not_the_install_path():
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.load("zoo:resnet18", classes=0)
    assert "specs/zoo/resnet.cnn:" in err.value.render()


def test_an_unknown_zoo_name_is_a_clear_error(capsys):
    with pytest.raises(ValueError, match="did you mean `resnet50`"):
        cnndsl.load("zoo:resnt50")
    with pytest.raises(SystemExit) as exit_:
        main(["check", "zoo:resnt50"])
    assert exit_.value.code == 2
    assert "did you mean `resnet50`" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["check"], ["draw"], ["compile"]])
def test_every_command_takes_a_zoo_name(command, capsys):
    assert main([*command, "zoo:squeezenet1_1", "--input", "3x64x64"]) == 0
    assert capsys.readouterr().out


def test_zoo_lists_every_builder_with_its_numbers(capsys):
    assert main(["zoo", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in entries] == sorted(ZOO)
    by_name = {e["name"]: e for e in entries}
    assert by_name["resnet50"]["params"] == 25_557_032
    assert by_name["resnet50"]["rf"]["size"] == [427, 427]  # the last 7x7 map's field
    assert by_name["inception_v3"]["input"] == [3, 299, 299]
    assert main(["zoo", "resnet18", "zoo:vgg11"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["resnet18", "vgg11"]


def test_zoo_refuses_an_unknown_name(capsys):
    with pytest.raises(SystemExit):
        main(["zoo", "resnet51"])
    assert "did you mean" in capsys.readouterr().err
