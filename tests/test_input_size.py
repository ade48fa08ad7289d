"""Sizes as formulas of H and W, the smallest valid input, and the CLI around them."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from fractions import Fraction
from math import lcm

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import cnndsl
from cnndsl.cli import main
from cnndsl.ops.base import Window
from cnndsl.ops.geometry import Resize
from cnndsl.passes.lint import unread_pixels
from cnndsl.input_sizes import AxisRange, _axis_range, _Merge, _scan_range, valid_sizes
from cnndsl.symbolic import Length, formulas

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("specs/*.cnn"),
                                                  *ROOT.glob("specs/zoo/*.cnn")])


@pytest.fixture(autouse=True)
def _at_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # spec paths below are relative to it


def _fits(path, shape) -> bool:
    """Valid as --min-input means it: no error, and no pool discarding pixels (W0302)."""
    try:
        net = cnndsl.load(path, input_shape=shape)
    except cnndsl.CnnError:
        return False
    return not any(w.code == "W0302" for w in net.warnings)


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
        net = cnndsl.loads(text, input_shape=shape)
    except cnndsl.CnnError:
        return False
    return not any(w.code == "W0302" for w in net.warnings)


def _window(k, s, p, ceil):
    """A square window: extent k, stride s, padding p on both sides."""
    return Window((k, k), (s, s), (p, p), ceil)


def test_length_keeps_floor_and_ceil_exact():
    stem = Length().through(_window(7, 2, 3, False), 0)  # conv 7x7/2, p=3
    assert stem.format("H") == "ceil(H/2)"
    pool = stem.through(_window(3, 2, 0, True), 0)  # torchvision's maxpool(3, 2, ceil_mode=True)
    assert pool.format("H") == "floor((H + 1)/4)"
    # torch drops a last window starting in the right padding: k=2, s=2, p=1
    dropped = Length().through(_window(2, 2, 1, True), 0)
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


# ------------------------------------------- solved, not scanned (issue 18, item 5)


def test_min_input_of_a_deep_stride_stack_is_solved():
    """The period doubles with every stride-2 layer: 2**40 here. A scan of it never
    ended; the answer is arithmetic."""
    net = cnndsl.loads("network t\ninput [1, 8, 8]\nrepeat 40 { conv(1, k=1, s=2) }\n")
    height, width = valid_sizes(net.graph)
    assert (height.minimum, height.period, height.rule("H")) == (1, 2**40, "H >= 1")
    assert height.residues is None  # 2**40 residues are not listed
    json.dumps(height.to_json())


DEEP_UNET = """network u
input [1, 8192, 8192]
concat {
    path { repeat 13 { maxpool(k=2, s=2) } }
    path { repeat 13 { conv(1, k=3, s=2, p=1) } }
}
"""


def test_divisibility_beyond_the_listed_periods():
    """floor(H/8192) against ceil(H/8192): a period too long to list, said as a congruence."""
    height, _ = valid_sizes(cnndsl.loads(DEEP_UNET).graph)
    assert height.period == 8192 and height.residues is None
    assert height.rule("H") == "H >= 8192, H divisible by 8192"
    assert height.to_json()["congruences"] == [{"modulus": 8192, "from": 0, "to": 0}]
    assert _fits_text(DEEP_UNET, (1, 3 * 8192, 8192))
    for h in (8191, 8193, 2 * 8192 - 1):
        assert not _fits_text(DEEP_UNET, (1, h, 8192)), h


def test_min_input_beyond_the_old_scan_limit():
    """The scan stopped at 65,536 and said no size was valid."""
    text = "network t\ninput [1, 70000, 4]\nconv(1, k=(70000, 1))\n"
    height, width = valid_sizes(cnndsl.loads(text).graph)
    assert (height.minimum, width.minimum) == (70000, 1)
    assert _fits_text(text, (1, 70000, 1)) and not _fits_text(text, (1, 69999, 1))


def test_no_valid_size_is_proved_not_searched_for():
    # floor(H/2) = H only at H = 0: the merge never lines up, at any size.
    paths = (Length().through(_window(2, 2, 0, False), 0),
             Length().through(_window(1, 1, 0, False), 0))
    found = _axis_range(set(paths), {paths})
    assert (found.minimum, found.gave_up, found.rule("H")) == (None, False, "no H is valid")
    assert _scan(set(paths), {paths}, 10_000) is None


# A window: extent k, stride s, padding p (at most k // 2, as torch requires), ceil mode.
_WINDOWS = st.tuples(st.integers(1, 5), st.sampled_from([1, 1, 2, 3]), st.integers(0, 2),
                     st.booleans()).filter(lambda w: w[2] <= w[0] // 2)


@st.composite
def _stacks(draw):
    """Lengths of a random stack with merges: a trunk, and merges of paths that start
    from one point of it (paths of one stride and of different strides)."""
    trunk = [Length()]
    merges = set()
    lengths = {trunk[0]}
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            k, s, p, ceil = draw(_WINDOWS)
            trunk.append(trunk[-1].through(_window(k, s, p, ceil), 0))
            lengths.add(trunk[-1])
            continue
        ends = []
        # Half the merges have paths of equal strides (they line up periodically).
        strides = draw(st.lists(st.sampled_from([1, 2, 3]), max_size=2)) \
            if draw(st.booleans()) else None
        for _ in range(draw(st.integers(2, 3))):
            end = trunk[-1]
            windows = draw(st.lists(_WINDOWS, max_size=2)) if strides is None else \
                [draw(_WINDOWS.filter(lambda w, s=s: w[1] == s)) for s in strides]
            for k, s, p, ceil in windows:
                end = end.through(_window(k, s, p, ceil), 0)
                lengths.add(end)
            if draw(st.integers(0, 9)) == 0:
                end = Length(const=draw(st.integers(0, 2)))  # a global pool on this path
                lengths.add(end)
            ends.append(end)
        if len(set(ends)) > 1:
            merges.add(tuple(ends))
        trunk.append(ends[0])
    return lengths, merges


def _period(stack) -> int:
    return lcm(*(length.m for length in stack[0] if length.const is None))


def _scan(lengths, merges, bound):
    """The old answer, by brute force: scan sizes up to ``bound``."""
    period = 1
    for length in lengths:
        period = lcm(period, length.m) if length.const is None else period

    def ok(n):
        return (all(length.at(n) >= 1 for length in lengths)
                and all(len({length.at(n) for length in m}) == 1 for m in merges))

    first = next((n for n in range(1, bound + 1) if ok(n)), None)
    if first is None:
        return None
    residues = tuple(sorted({x % period for x in range(first, first + period) if ok(x)}))
    again = tuple(sorted({x % period for x in range(first + period, first + 2 * period) if ok(x)}))
    return AxisRange(first, period, residues, periodic=residues == again)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_stacks().filter(lambda stack: _period(stack) <= 1000))  # the scan stays short
def test_solved_sizes_equal_a_brute_force_scan(stack):
    lengths, merges = stack
    solved = _axis_range(lengths, merges)
    bound = 5000  # above the minimum of any such stack: its period, plus its offsets
    scanned = _scan(lengths, merges, bound)
    if scanned is None:
        assert solved.minimum is None or solved.minimum > bound
        return
    assert (solved.minimum, solved.period, solved.residues, solved.periodic) == \
        (scanned.minimum, scanned.period, scanned.residues, scanned.periodic)
    assert solved.rule("H") == scanned.rule("H")


_PATH_ENDS = st.one_of(
    st.builds(Length, st.integers(-12, 12), st.sampled_from([1, 2, 3, 4, 6, 8])),
    st.builds(lambda c: Length(const=c), st.integers(0, 3)))


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.lists(st.lists(_PATH_ENDS, min_size=2, max_size=3), min_size=1, max_size=3))
def test_each_merge_lines_up_where_a_scan_says(merges):
    """Every floor((H + b)/m) the windows can make, not only those a few windows reach."""
    merges = {tuple(m) for m in merges if len(set(m)) > 1}
    lengths = {length for m in merges for length in m}
    for paths in merges:
        merge = _Merge(paths)
        for n in range(0, 60):
            expected = next((x for x in range(n, 400) if len({p.at(x) for p in paths}) == 1),
                            None)
            assert merge.next_valid(n) == expected, (paths, n)
    scanned = _scan(lengths, merges, 2000)
    solved = _axis_range(lengths, merges)
    if scanned is None:
        assert solved.minimum is None
    else:
        assert (solved.minimum, solved.residues, solved.periodic, solved.rule("H")) == \
            (scanned.minimum, scanned.residues, scanned.periodic, scanned.rule("H"))
        if solved.periodic:  # the congruences (said where residues are too many to list) agree
            assert solved.residues == tuple(
                r for r in range(solved.period)
                if all((r - start) % m <= w for m, start, w in solved.congruences))


GATED = """network gated
input [4, 32, 32]
conv(4, k=3, s=2, p=1)
mul {
    path { }
    path { global_avgpool conv(4, k=1) sigmoid }
}
"""


def test_a_broadcast_gate_lines_up_at_every_size():
    """`mul` takes a 4x1x1 gate over any height: squeeze-and-excitation constrains
    nothing (it was taken for paths of different strides)."""
    height, width = valid_sizes(cnndsl.loads(GATED).graph)
    assert (height.minimum, height.periodic, height.rule("H")) == (1, True, "H >= 1")
    assert all(_fits_text(GATED, (4, h, 5)) for h in (1, 2, 7, 30))


# `same` and per-side padding, pad layers and broadcasting gates: every layer's
# size formula equals the size elaboration computes, at every input size.
@pytest.mark.parametrize("body", [
    'conv(4, k=3, s=2, p="same") maxpool(k=3, s=2, p="same") avgpool(k=2, s=2, p="same")',
    'conv(4, k=3, s=2, p=((0, 1), (1, 0))) pad(((1, 2), (0, 3))) '
    'maxpool(k=2, s=2, p=((0, 1), (1, 0)))',
    'conv(4, k=3, s=2, p=1) mul { path { conv(4, k=3, p="same") } '
    'path { global_avgpool conv(4, k=1) sigmoid } } conv(4, k=3, s=2, p="same")',
    'mul { path { global_avgpool } path { conv(4, k=3, s=2, p="same") } } '
    'add { path { conv(4, k=2, s=2) } path { conv(4, k=3, s=2, p="same") } }',
])
def test_formulas_of_padding_and_gates_equal_elaboration(body):
    text = f"network t\ninput [4, 64, 64]\n{body}\n"
    table = formulas(cnndsl.loads(text).graph)
    checked = 0
    for n in range(1, 60):
        try:
            graph = cnndsl.loads(text, input_shape=(4, n, n + 1)).graph
        except cnndsl.CnnError:
            continue
        for node, lengths in table.items():
            if lengths is not None:
                assert (lengths[0].at(n), lengths[1].at(n + 1)) == graph.nodes[node]["shape"][1:]
                checked += 1
    assert checked > 100


# ---------------------------------------- through upsampling (issue 10): U-Net and FCN

# The U-Net of Ronneberger et al. (2015) with 2 channels: 3x3 valid convs, 2x2 max
# pools, 2x2 up-convolutions of stride 2, the skip cropped to the up-convolution's size.
UNET = """network unet
input [2, 572, 572]
block two() { conv(2, k=3) relu conv(2, k=3) relu }
two() -> s1
maxpool(k=2, s=2) two() -> s2
maxpool(k=2, s=2) two() -> s3
maxpool(k=2, s=2) two() -> s4
maxpool(k=2, s=2) two()
conv_transpose(2, k=2, s=2) -> u4
concat { path { from s4 crop(to=u4) } path { } } two()
conv_transpose(2, k=2, s=2) -> u3
concat { path { from s3 crop(to=u3) } path { } } two()
conv_transpose(2, k=2, s=2) -> u2
concat { path { from s2 crop(to=u2) } path { } } two()
conv_transpose(2, k=2, s=2) -> u1
concat { path { from s1 crop(to=u1) } path { } } two()
conv(2, k=1)
"""


def test_unet_takes_572_and_not_571():
    """Every 2x2 pool must see an even size (the paper): 572 = 12 mod 16 is valid, 571
    leaves a row unread (W0302); the smallest is 188."""
    height, width = valid_sizes(cnndsl.loads(UNET).graph)
    assert height.rule("H") == "H >= 188, H = 12 mod 16" and width.minimum == 188
    assert _fits_text(UNET, (2, 572, 572)) and not _fits_text(UNET, (2, 571, 572))
    for h in range(150, 240):  # a scan agrees with the answer
        assert _fits_text(UNET, (2, h, 188)) == (h >= 188 and h % 16 == 12), h


def test_cli_min_input_of_a_unet(capsys, tmp_path):
    spec = tmp_path / "unet.cnn"
    spec.write_text(UNET)
    code, out = _run(capsys, "check", str(spec), "--min-input")
    assert code == 0
    assert "minimum input 2x188x188: H >= 188, H = 12 mod 16; W >= 188, W = 12 mod 16" in out.out
    code, out = _run(capsys, "check", str(spec), "--input", "2xHxW", "--json")
    layers = {layer["name"]: layer for layer in json.loads(out.out)["layers"]}
    assert layers["conv_transpose_4"]["size"] == ["16*floor((H + 4)/16) - 184",
                                                  "16*floor((W + 4)/16) - 184"]


def _evaluate(formula: str, symbol: str, n: int) -> int:
    """A printed formula at ``symbol = n``, in exact fractions."""
    return eval(formula, {"floor": math.floor, "ceil": math.ceil,  # noqa: S307 (our formula)
                          symbol: Fraction(n)})


# Decoders: upsampling, transposed convs, crops, FCN's upsampling to the input's size.
@pytest.mark.parametrize("body", [
    "conv(2, k=3, s=2, p=1) upsample(2) conv(2, k=3) upsample((3, 2)) maxpool(k=2, s=2)",
    "conv(2, k=3) -> a\nmaxpool(k=2, s=2) conv_transpose(2, k=3, s=2, p=1, op=1) -> b\n"
    "from a crop(to=b) crop(((1, 0), (0, 2)))",
    'conv(2, k=7, s=4, p=3) conv(2, k=3, s=2, p=1) upsample(mode="bilinear", to=input) '
    "conv_transpose(2, k=4, s=3, d=2)",
    "avgpool(k=3, s=3) upsample(3) add { path { } path { conv(2, k=3, p=1) } }",
])
def test_formulas_through_upsampling_equal_elaboration(body):
    text = f"network t\ninput [2, 64, 64]\n{body}\n"
    net = cnndsl.loads(text)
    table = formulas(net.graph)
    checked = 0
    for n in range(1, 80):
        try:
            graph = cnndsl.loads(text, input_shape=(2, n, n + 3)).graph
        except cnndsl.CnnError:
            continue
        for node, lengths in table.items():
            if lengths is None:
                continue
            assert (lengths[0].at(n), lengths[1].at(n + 3)) == graph.nodes[node]["shape"][1:]
            for axis, (symbol, size) in enumerate((("H", n), ("W", n + 3))):
                shown = lengths[axis].format(symbol)  # the printed formula says the same
                assert _evaluate(shown, symbol, size) == lengths[axis].at(size), shown
            checked += 1
    assert checked > 100
    height, width = valid_sizes(net.graph, table)
    for n in range(1, 80):  # --min-input's answer is the first size that checks cleanly
        assert _fits_text(text, (2, n, width.minimum)) == (
            n >= height.minimum and (height.residues is None or n % height.period in height.residues)), n


_RESIZES = st.one_of(
    st.builds(lambda b, s: Resize(1, b, s), st.integers(-4, 2), st.sampled_from([1, 2, 3])),
    st.builds(lambda f: Resize(f), st.sampled_from([2, 3])),  # nearest x f
    st.builds(lambda s, c: Resize(s, c), st.sampled_from([1, 2]), st.integers(-2, 2)))  # deconv


@st.composite
def _decoder_lengths(draw):
    """A trunk of windows and resizes, and merges and crops between two of its points."""
    trunk = [Length()]
    for r in draw(st.lists(_RESIZES, min_size=1, max_size=5)):
        trunk.append(trunk[-1].resized(r))
    merges, crops = set(), set()
    for _ in range(draw(st.integers(0, 2))):
        a, b = draw(st.sampled_from(trunk)), draw(st.sampled_from(trunk))
        if a != b:
            (crops.add((a, b)) if draw(st.booleans()) else merges.add((a, b)))
    return set(trunk), merges, crops


@settings(max_examples=200, deadline=None, derandomize=True)
@given(_decoder_lengths())
def test_scan_through_upsampling_equals_brute_force(stack):
    lengths, merges, crops = stack
    found = _scan_range(lengths, merges, crops, set())

    def ok(n):
        return (all(x.at(n) >= 1 for x in lengths)
                and all(a.at(n) == b.at(n) for a, b in merges)
                and all(a.at(n) <= b.at(n) for a, b in crops))

    first = next((n for n in range(1, 3000) if ok(n)), None)
    assert found.minimum == first, (found, first)
    if first is not None and found.residues is not None:
        assert found.residues == tuple(sorted({n % found.period for n in
                                               range(first + 500, first + 500 + found.period)
                                               if ok(n)}))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.tuples(_WINDOWS, st.booleans(), st.booleans()), min_size=1, max_size=4))
def test_pools_read_whole_where_a_scan_says(layers):
    """A pool's condition (W0302 quiet), solved as a congruence, against a scan of
    unread_pixels over the sizes; with `same` padding too."""
    trunk, pools = Length(), set()
    for (k, s, p, _), pool, same in layers:
        window = Window((k, k), (s, s), (0, 0), same=True) if same else _window(k, s, p, False)
        if pool:
            pools.add((trunk, window, 0))
        trunk = trunk.through(window, 0)
    lengths = {trunk} | {length for length, _, _ in pools}
    assume(lcm(*(x.m for x in lengths)) <= 500)
    solved = _axis_range(lengths, set(), pools)

    def ok(n):
        return all(x.at(n) >= 1 for x in lengths) and \
            all(unread_pixels(w, 0, x.at(n)) == 0 for x, w, _ in pools)

    first = next((n for n in range(1, 3000) if ok(n)), None)
    assert solved.minimum == first
    if first is not None:
        assert solved.residues == tuple(sorted({n % solved.period for n in
                                                range(first, first + solved.period) if ok(n)}))


def test_a_pool_of_two_wants_an_even_size():
    text = "network t\ninput [1, 32, 32]\nconv(1, k=3) maxpool(k=2, s=2)\n"
    height, _ = valid_sizes(cnndsl.loads(text).graph)
    assert height.rule("H") == "H >= 4, H divisible by 2"
    assert [h for h in range(1, 12) if _fits_text(text, (1, h, 4))] == [4, 6, 8, 10]
