"""`cnndsl rf`: the pictures show the fields the receptive-field pass computes.

The checks read the drawn artists (each carries a gid: ``rf:NODE`` for a
field's box, ``padding:NODE:K``, ``grid:NODE``, ``centre:NODE``), so they
assert what the picture shows in input pixels, not how it is rasterised;
one check reads the rendered pixels back to see that the picture is not
blank. Work is bounded by sizes: small specs, few samples.
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.passes.receptive_field import ReceptiveField
from cnndsl.rfplot import default_layers, figure_bytes, resolve, rf_plot, units
from cnndsl.rfplot.figures import COLOURS, _box
from cnndsl.rfplot.growth import growth
from cnndsl.rfplot.layers import _fmt, _nearest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
TINY = """network tiny
input [1, 16, 16]
stage a { conv(8, k=3, p=1) relu conv(8, k=3, p=1) relu }
stage b { maxpool(k=2, s=2) conv(8, k=3, p=1) relu }
stage head { global_avgpool flatten linear(2) }
"""


@pytest.fixture(scope="module")
def vgg():
    return cnndsl.load(SPECS / "vgg16.cnn")


@pytest.fixture(scope="module")
def googlenet():
    return cnndsl.load(SPECS / "googlenet.cnn")


def _artists(fig, gid: str):
    """Artists on any axes of ``fig`` whose gid is ``gid`` (or starts with it, for a prefix
    ending in ':')."""
    found = []
    for ax in fig.axes:
        for a in [*ax.patches, *ax.lines, *ax.images]:
            g = a.get_gid() or ""
            if g == gid or gid.endswith(":") and g.startswith(gid):
                found.append(a)
    return found


def _only(fig, gid: str):
    found = _artists(fig, gid)
    assert len(found) == 1, f"{len(found)} artists with gid {gid}"
    return found[0]


# ------------------------------------------------------------ the field on the input


def test_vgg16_last_conv_stage_box_covers_212_pixels(vgg):
    fig = rf_plot(vgg, ["features"])  # a stage: its last layer, the pool after the last conv
    box = _only(fig, "rf:features.vgg_block_5.maxpool_1")
    assert (box.get_width(), box.get_height()) == (212, 212)
    # the centre unit (3, 3) of the 7x7 output sees pixels 6..217: inside the image
    assert box.get_xy() == (5.5, 5.5)
    assert _artists(fig, "padding:") == []


def test_vgg16_last_conv_layer_box(vgg):
    fig = rf_plot(vgg, ["features.vgg_block_5.conv_3", "features.vgg_block_5"])
    assert _only(fig, "rf:features.vgg_block_5.conv_3").get_width() == 196
    assert _only(fig, "rf:features.vgg_block_5.maxpool_1").get_width() == 212


def test_boxes_are_the_pass_fields_and_nest(vgg, googlenet):
    for net in (vgg, googlenet, cnndsl.load(SPECS / "lenet.cnn"),
                cnndsl.load(SPECS / "resnet50.cnn")):
        nodes = default_layers(net)
        assert len(nodes) >= 3
        chosen = units(net, nodes)
        fig = rf_plot(net)
        boxes = []
        for v in nodes:
            rect = _only(fig, f"rf:{v}")
            (top, bottom), (left, right) = net.graph.nodes[v]["rf"].span(chosen[v])
            assert rect.get_xy() == (left - 0.5, top - 0.5)
            assert (rect.get_width(), rect.get_height()) == (right - left + 1, bottom - top + 1)
            boxes.append((left, right, top, bottom))
        boxes.sort(key=lambda b: b[1] - b[0])
        for small, big in zip(boxes, boxes[1:]):  # each box inside the next larger one
            assert big[0] <= small[0] and small[1] <= big[1], net.name
            assert big[2] <= small[2] and small[3] <= big[3], net.name


def test_padding_is_the_part_of_the_box_outside_the_image(googlenet):
    fig = rf_plot(googlenet, ["b4"])  # 459 pixels on a 224 input
    box = _only(fig, "rf:b4.maxpool_1")
    assert box.get_width() == 459
    parts = _artists(fig, "padding:b4.maxpool_1:")
    area = sum(p.get_width() * p.get_height() for p in parts)
    assert area == 459 * 459 - 224 * 224  # the image lies inside the box
    for p in parts:  # none of it on the image
        x, y = p.get_xy()
        assert x + p.get_width() <= -0.5 or x >= 223.5 or y + p.get_height() <= -0.5 \
            or y >= 223.5


def test_stride_grid_is_one_stride_apart(vgg):
    fig = rf_plot(vgg, ["features.vgg_block_4", "features"])
    for node, stride in (("features.vgg_block_4.maxpool_1", 16),
                         ("features.vgg_block_5.maxpool_1", 32)):
        dots = _only(fig, f"grid:{node}")
        xs = sorted(set(dots.get_xdata()))
        assert len(xs) >= 3 and set(np.diff(xs)) == {stride}
        centre = _only(fig, f"centre:{node}")
        assert centre.get_xdata()[0] in xs  # the unit's own centre is on its grid


def test_picture_is_not_blank(tmp_path):
    out = tmp_path / "lenet.png"
    assert main(["rf", str(SPECS / "lenet.cnn"), "-o", str(out)]) == 0
    from matplotlib.image import imread

    pixels = imread(out)[..., :3]
    assert pixels.std() > 0.05
    colours = {tuple(int(round(c * 255)) for c in px) for px in pixels.reshape(-1, 3)[::7]}
    assert len(colours) > 50
    for hex_colour in COLOURS[:4]:  # every layer's box colour is on the picture
        rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
        assert (np.abs(pixels - rgb).max(-1) < 0.02).sum() > 20, hex_colour


def test_image_is_resized_to_the_input(tmp_path):
    from PIL import Image

    Image.fromarray(np.arange(60 * 40, dtype=np.uint8).reshape(60, 40)).save(tmp_path / "a.png")
    out = tmp_path / "rf.png"
    assert main(["rf", str(SPECS / "lenet.cnn"), "--image", str(tmp_path / "a.png"),
                 "-o", str(out)]) == 0
    fig = rf_plot(cnndsl.load(SPECS / "lenet.cnn"), image=tmp_path / "a.png")
    assert _only(fig, "image").get_array().shape == (28, 28)


def test_default_layers():
    assert default_layers(cnndsl.load(SPECS / "resnet50.cnn")) == [
        "stem.maxpool_1", "layer1.bottleneck_3.relu_1", "layer2.bottleneck_4.relu_1",
        "layer3.bottleneck_6.relu_1", "layer4.bottleneck_3.relu_1"]
    assert default_layers(cnndsl.load(SPECS / "vgg16.cnn")) == [
        f"features.vgg_block_{i}.maxpool_1" for i in range(1, 6)]  # one stage: its blocks
    assert default_layers(cnndsl.load(SPECS / "lenet.cnn")) == [  # no blocks: each field
        "features.conv_1", "features.avgpool_1", "features.conv_2", "features.avgpool_2"]


def test_unit_option_picks_the_unit_of_the_last_layer(vgg):
    nodes = resolve(vgg, ["features.vgg_block_4", "features"])
    chosen = units(vgg, nodes, (0, 6))
    assert chosen["features.vgg_block_5.maxpool_1"] == (0, 6)
    assert chosen["features.vgg_block_4.maxpool_1"] == (0, 12)  # nearest centre, nested
    with pytest.raises(ValueError, match="outside"):
        units(vgg, nodes, (7, 0))


def test_fractional_strides_are_drawn_exactly():
    rf = ReceptiveField((5, 5), (Fraction(1, 2), Fraction(1, 2)), (2, 2))
    assert _box(rf.span((3, 3))) == (-1.0, -1.0, 5.0, 5.0)
    assert _fmt(Fraction(3, 2)) == "3/2" and _fmt(Fraction(4, 2)) == "2"
    assert _nearest(rf, (32, 32), (3.5, 3.5)) == (7, 7)


# ------------------------------------------------------------ diagnostics and output


def test_bad_layer_name_is_a_diagnostic(tmp_path, capsys):
    out = tmp_path / "rf.png"
    code = main(["rf", str(SPECS / "vgg16.cnn"), "--layer", "features.vgg_blok_5", "-o",
                 str(out)])
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert "error[E0201]" in err and "has no layer `features.vgg_blok_5`" in err
    assert "did you mean `features.vgg_block_5`?" in err
    assert "Traceback" not in err


def test_layer_that_sees_the_whole_input_is_a_diagnostic(tmp_path, capsys):
    out = tmp_path / "rf.png"
    assert main(["rf", str(SPECS / "vgg16.cnn"), "--layer", "classifier", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "sees the whole input" in err and not out.exists()
    assert "vgg16.cnn:20:5" in err  # the spec line of the layer, linear(classes)
    assert "features.vgg_block_5.maxpool_1" in err  # a layer to choose instead


@pytest.mark.parametrize("args, message", [
    (["-o", "rf.jpg"], "png, .svg or .pdf"),
    (["--unit", "9,9", "-o", "rf.png"], "outside"),
    (["--unit", "a", "-o", "rf.png"], "I,J"),
    (["--plot", "growth", "--layer", "features", "-o", "rf.png"], "--plot growth"),
])
def test_usage_errors_write_nothing(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["rf", str(SPECS / "lenet.cnn"), *args])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_svg_is_byte_identical_run_to_run(tmp_path):
    net = cnndsl.load(SPECS / "lenet.cnn")
    first = figure_bytes(rf_plot(net), "svg")
    assert first == figure_bytes(rf_plot(net), "svg")
    out = tmp_path / "lenet.svg"  # another process: other hash seeds, other object ids
    done = subprocess.run([sys.executable, "-m", "cnndsl", "rf", str(SPECS / "lenet.cnn"), "-o",
                           str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == first
    assert b"<dc:date>" not in first and str(tmp_path).encode() not in first
    assert b'id="rf:features.avgpool_2"' in first


def test_no_torch_without_effective(tmp_path):
    code = ("import sys; from cnndsl.cli import main; "
            f"rc = main(['rf', {str(SPECS / 'lenet.cnn')!r}, '-o', 'a.svg']); "
            f"rc += main(['rf', {str(SPECS / 'lenet.cnn')!r}, {str(SPECS / 'vgg16.cnn')!r}, "
            "'--plot', 'growth', '-o', 'b.png']); "
            "print(rc, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "False"]


def test_notebook_figure_shows_inline():
    fig = rf_plot(cnndsl.load(SPECS / "lenet.cnn"), "features.conv_2")
    assert fig._repr_png_().startswith(b"\x89PNG")


# ------------------------------------------------------------ growth chart


def test_growth_depth_counts_convolutions_on_the_longest_path():
    depth = {name: growth(cnndsl.load(SPECS / f"{name}.cnn"))[-1]
             for name in ("vgg16", "resnet50", "googlenet")}
    # the names count weighted layers: 13 + 3 linear, 49 + 1, 21 + 1
    assert depth["vgg16"][0] == 13 and depth["vgg16"][2:] == (212, 32)
    assert depth["resnet50"][0] == 49 and depth["resnet50"][2:] == (427, 32)
    assert depth["googlenet"][0] == 21


def test_growth_chart_plots_every_spec(tmp_path):
    out = tmp_path / "growth.svg"
    assert main(["rf", str(SPECS / "vgg16.cnn"), str(SPECS / "resnet50.cnn"), "--plot",
                 "growth", "-o", str(out)]) == 0
    fig = rf_plot(cnndsl.load(SPECS / "vgg16.cnn"), plot="growth",
                  others=[cnndsl.load(SPECS / "resnet50.cnn")])
    for i, last in ((0, 212), (1, 427)):
        assert _only(fig, f"size:{i}").get_ydata()[-1] == last
        assert _only(fig, f"stride:{i}").get_ydata()[-1] == 32
    assert fig.axes[0].get_yscale() == "log"
    assert b"vgg16: field" in out.read_bytes() and b"resnet50: stride" in out.read_bytes()


# ------------------------------------------------------------ effective field (torch)


def test_effective_field_lies_in_the_theoretical_one():
    pytest.importorskip("torch")
    from cnndsl.rfplot.effective import effective

    net = cnndsl.loads(TINY)
    nodes = resolve(net, None)
    assert nodes == ["a.relu_2", "b.relu_1"]
    chosen = units(net, nodes)
    results = effective(net, nodes, chosen, samples=3)
    for e in results:
        assert (e.forwards, e.backwards) == (3, 3)  # the work: one pass per sample
        (top, bottom), (left, right) = net.graph.nodes[e.node]["rf"].span(e.unit)
        inside = np.zeros_like(e.heat, dtype=bool)
        inside[max(top, 0):bottom + 1, max(left, 0):right + 1] = True
        assert (e.heat[~inside] == 0).all() and e.heat[inside].sum() > 0
        assert e.field_pixels == inside.sum()
        top_pixels = np.sort(e.heat[inside].ravel())[::-1][:e.pixels]
        assert top_pixels.sum() >= 0.95 * e.heat[inside].sum()
        assert 0 < e.fraction <= 1
    again = effective(net, nodes, chosen, samples=3)  # seeded: the same heatmaps
    assert all((a.heat == b.heat).all() for a, b in zip(results, again))


def test_effective_command(tmp_path, capsys):
    pytest.importorskip("torch")
    spec = tmp_path / "tiny.cnn"
    spec.write_text(TINY)
    out = tmp_path / "erf.png"
    assert main(["rf", str(spec), "--effective", "--samples", "2", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "a.relu_2 unit (7, 7): 95% of the gradient in" in printed
    assert "b.relu_1 unit (3, 3): 95% of the gradient in" in printed
    assert out.read_bytes().startswith(b"\x89PNG")


# ------------------------------------------------------------ docs and notebooks


def test_docs_pictures_are_there_and_shown():
    from cnndsl.rfplot.docs import DOCS, IMAGES

    page = (ROOT / "docs" / "receptive-field.md").read_text("utf-8")
    for name, args in DOCS.items():
        assert (ROOT / IMAGES / name).read_bytes().startswith(b"\x89PNG"), name
        assert f"](images/rf/{name})" in page, name
        assert f"cnndsl rf {args}" in page, name  # the command that draws it


def test_network_rf_plot_is_rf_plot():
    net = cnndsl.load(SPECS / "lenet.cnn")
    fig = net.rf_plot(["features.conv_2"], unit=(1, 2))
    assert _only(fig, "rf:features.conv_2").get_xy() == (-0.5 + 2 * 2 - 2, -0.5 + 2 * 1 - 2)


def test_fields_through_upsampling_are_drawn_from_their_spans():
    net = cnndsl.loads("network u\ninput [1, 16, 16]\n"
                       "conv(2, k=3, p=1) upsample(2) conv(2, k=3, p=1) maxpool(k=2, s=2)")
    nodes = resolve(net, None)
    chosen = units(net, nodes)
    fig = rf_plot(net)
    for v in nodes:
        (top, bottom), (left, right) = net.graph.nodes[v]["rf"].span(chosen[v])
        rect = _only(fig, f"rf:{v}")
        assert rect.get_xy() == (left - 0.5, top - 0.5)
        assert rect.get_width() == right - left + 1
    labels = [a.get_label() for a in _artists(fig, "rf:")]
    assert any("stride 1/2" in label for label in labels)


def test_gallery_page_shows_every_picture():
    from cnndsl.rfplot.docs import DOCS, gallery_page

    page = gallery_page()
    for name, args in DOCS.items():
        assert f"](../images/rf/{name})" in page and f"cnndsl rf {args} -o {name}" in page
