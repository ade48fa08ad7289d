"""Sizes as formulas of H and W, the smallest valid input, and the CLI around them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.symbolic import Length, formulas, valid_sizes

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("specs/*.cnn"),
                                                  *ROOT.glob("specs/zoo/*.cnn")])


@pytest.fixture(autouse=True)
def _at_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # spec paths below are relative to it


def _fits(path, shape) -> bool:
    try:
        cnndsl.load(path, input_shape=shape)
        return True
    except cnndsl.CnnError:
        return False


@pytest.mark.parametrize("path", SPECS)
def test_formulas_equal_the_elaborated_sizes(path):
    net = cnndsl.load(path)
    table = formulas(net.graph)
    h_min, w_min = (axis.minimum for axis in valid_sizes(net.graph, table))
    c = net.input_shape[0]
    for h, w in ((h_min, w_min + 1), (h_min + 1, w_min + 7), (97, 131), (224, 225), (301, 255)):
        if h < h_min or w < w_min:
            continue
        other = cnndsl.load(path, input_shape=(c, h, w))
        for node, data in other.graph.nodes(data=True):
            if table[node] is not None:
                assert data["shape"][1:] == (table[node][0].at(h), table[node][1].at(w)), node


@pytest.mark.parametrize("path", SPECS)
def test_min_input_is_the_smallest_that_checks(path):
    net = cnndsl.load(path)
    height, width = valid_sizes(net.graph)
    c = net.input_shape[0]
    assert _fits(path, (c, height.minimum, width.minimum))
    if height.minimum > 1:
        assert not _fits(path, (c, height.minimum - 1, width.minimum))
    if width.minimum > 1:
        assert not _fits(path, (c, height.minimum, width.minimum - 1))


# floor(H/4) against ceil(H/4): the paths line up only for H divisible by 4
QUARTERS = """network quarters
input [2, 32, 32]
concat {
    path { maxpool(k=2, s=2) maxpool(k=2, s=2) }
    path { conv(2, k=3, s=2, p=1) conv(2, k=3, s=2, p=1) }
}
"""


def test_divisibility_that_keeps_merges_lined_up():
    net = cnndsl.loads(QUARTERS)
    height, width = valid_sizes(net.graph)
    assert height.rule("H") == "H >= 4, H divisible by 4"
    assert (height.minimum, height.period, height.residues) == (4, 4, (0,))
    for h in range(4, 40):
        assert _fits_text(QUARTERS, (2, h, 32)) == (h % 4 == 0), h


def _fits_text(text, shape):
    try:
        cnndsl.loads(text, input_shape=shape)
        return True
    except cnndsl.CnnError:
        return False


def test_length_keeps_floor_and_ceil_exact():
    stem = Length().through(7, 2, 3, False)  # conv 7x7/2, p=3
    assert stem.format("H") == "ceil(H/2)"
    pool = stem.through(3, 2, 0, True)  # torchvision's maxpool(3, 2, ceil_mode=True)
    assert pool.format("H") == "floor((H + 1)/4)"
    # torch drops a last window starting in the right padding: k=2, s=2, p=1
    dropped = Length().through(2, 2, 1, True)
    assert [dropped.at(n) for n in (4, 5, 6)] == [3, 3, 4]


# ------------------------------------------------------------------ the CLI


def _run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr()


def test_cli_symbolic_input_prints_formulas(capsys):
    code, out = _run(capsys, "check", "specs/resnet18.cnn", "--input", "3xHxW")
    assert code == 0
    stem = next(line for line in out.out.splitlines() if line.strip().startswith("conv_1"))
    assert "ceil(H/2)" in stem and "ceil(W/2)" in stem
    code, out = _run(capsys, "check", "specs/resnet18.cnn", "--input", "3xHx64", "--json")
    layers = {layer["name"]: layer for layer in json.loads(out.out)["layers"]}
    assert layers["stem.conv_1"]["size"] == ["ceil(H/2)", "32"]
    assert layers["head.linear_1"]["size"] is None
    assert layers["head.flatten_1"]["features"] == "512"  # after a global pool
    code, out = _run(capsys, "check", "specs/lenet.cnn", "--input", "1xHxW", "--json")
    layers = {layer["name"]: layer for layer in json.loads(out.out)["layers"]}
    assert layers["classifier.flatten_1"]["features"] == "16*(floor(H/4) - 2)*(floor(W/4) - 2)"


def test_cli_min_input(capsys):
    code, out = _run(capsys, "check", "specs/zoo/googlenet.cnn", "--min-input")
    assert code == 0 and "minimum input 3x15x15" in out.out
    code, out = _run(capsys, "check", "specs/zoo/googlenet.cnn", "--min-input", "--json")
    assert json.loads(out.out)["min_input"]["shape"] == [3, 15, 15]


def test_cli_dtype(capsys):
    code, out = _run(capsys, "check", "specs/lenet.cnn", "--json", "--dtype", "float16")
    doc = json.loads(out.out)
    assert doc["memory"]["dtype"] == "float16"
    assert doc["memory"]["params"] == 2 * doc["params"]
    assert doc["layers"][0]["memory"]["output"] == 2 * 6 * 28 * 28


@pytest.mark.parametrize("text", ["CxHxW", "3xWxH", "3xAx4", "Hx3x3"])
def test_cli_takes_only_h_and_w_as_names(capsys, text):
    with pytest.raises(SystemExit) as exit_:
        main(["check", "specs/lenet.cnn", "--input", text])
    assert exit_.value.code == 2


def test_check_imports_neither_torch_nor_graphviz():
    code = ("import sys\nfrom cnndsl.cli import main\n"
            "for argv in (['check', 'specs/googlenet.cnn'], ['check', 'specs/resnet18.cnn', '--json',"
            " '--min-input', '--input', '3xHxW', '--dtype', 'float16']):\n"
            "    assert main(argv) == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'graphviz')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]"
