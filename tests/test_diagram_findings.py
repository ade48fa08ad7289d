"""What a new user tripped over in the figures (issue 12, items 12 and 14), one test each.

Each test asserts what the user sees: where dot puts titles and edges, the
labels in the dot source, the size in a png's header, the last line on
stderr, the column a size is printed in.
"""

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import cnndsl
from cnndsl.backends import graphviz_dot as gv
from cnndsl.cli import main

SPECS = Path(__file__).resolve().parent.parent / "specs"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")
HINT = "cnndsl: draw it up to its errors with --partial"


def dot_of(spec, **options):
    return gv.to_dot(cnndsl.load(SPECS / spec).graph, gv.DrawOptions(**options))


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a png's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def edge_label(source: str, tail: str, head: str) -> str | None:
    """The label of the edge tail -> head in dot source (None: no label)."""
    line = re.search(rf'^\s*"?{re.escape(tail)}"? -> "?{re.escape(head)}"? \[(.*)\]$', source,
                     re.M)
    assert line, f"no edge {tail} -> {head}"
    label = re.search(r'label="([^"]*)"', line.group(1))
    return label.group(1) if label else None


# ------------------------------------------------ edges cut through cluster titles

def _bezier(points, steps=24):
    """Points along a chain of cubic Bezier segments (dot's `b` drawing op)."""
    for i in range(0, len(points) - 3, 3):
        p0, p1, p2, p3 = points[i:i + 4]
        for k in range(steps + 1):
            t = k / steps
            a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
            yield (a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                   a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1])


def _titles_crossed(source: str) -> list[str]:
    """The cluster titles that an edge runs through, in dot's own layout (-Tjson)."""
    layout = json.loads(subprocess.run(["dot", "-Tjson"], input=source.encode(),
                                       capture_output=True, check=True).stdout)
    titles = []
    for obj in layout["objects"]:
        size = 12.0
        for op in obj.get("_ldraw_", []) if obj["name"].startswith("cluster") else []:
            size = op.get("size", size)
            if op["op"] == "T":
                x, y = op["pt"]
                left = {"l": x, "c": x - op["width"] / 2, "r": x - op["width"]}[op["align"]]
                titles.append((op["text"], left, left + op["width"], y - 0.2 * size,
                               y + 0.75 * size))
    assert titles, "no cluster titles in the layout"
    crossed = set()
    for edge in layout.get("edges", []):
        for op in edge.get("_draw_", []):
            if op["op"] != "b":
                continue
            for x, y in _bezier(op["points"]):
                crossed.update(t[0] for t in titles if t[1] < x < t[2] and t[3] < y < t[4])
    return sorted(crossed)


@needs_dot
@pytest.mark.parametrize("spec", ["vgg.cnn", "resnet18.cnn", "alexnet.cnn", "nin.cnn"])
def test_no_edge_runs_through_a_cluster_title(spec):
    assert _titles_crossed(dot_of(spec)) == []  # before: 6, 8, 1 and 4 titles crossed


@needs_dot
@pytest.mark.parametrize("spec, most", [("googlenet.cnn", 2), ("resnet50.cnn", 4)])
def test_few_titles_are_touched_where_paths_fan_out(spec, most):
    """Known remainder: an Inception's last fan-out edge grazes the start of the next
    title (of 9), ResNet-50's identity shortcuts run down past a bottleneck's title
    (of 16); before, 8 and 8 were crossed. This keeps it from growing back."""
    assert len(_titles_crossed(dot_of(spec))) <= most


@needs_dot
def test_the_title_check_sees_a_crossing():
    """The check above can fail: a title across the one path in is crossed."""
    source = ('digraph { input -> a; subgraph cluster_s { labeljust=l; '
              'label="a long title across the path"; a -> b } }')
    assert _titles_crossed(source) == ["a long title across the path"]


# ---------------------------------------- edges into and out of collapsed boxes carry shapes

def test_edges_into_and_out_of_collapsed_blocks_carry_their_shape():
    source = dot_of("resnet18.cnn", depth=1)
    assert edge_label(source, "stem.maxpool_1", "layer1.basic_1") == "64x56x56"
    assert edge_label(source, "layer1.basic_1", "layer2.basic_1") == "64x56x56"
    assert edge_label(source, "layer2.basic_1", "layer2.basic_2") == "128x28x28"
    assert edge_label(source, "layer4.basic_2", "head.global_avgpool_1") == "512x7x7"
    stages = dot_of("resnet18.cnn", depth=0)  # whole stages collapsed
    assert edge_label(stages, "layer3", "layer4") == "256x14x14"


# ------------------------------------------------------------------ padding in the box

def test_boxes_show_padding_where_there_is_some():
    source = dot_of("resnet18.cnn")
    assert "conv 7x7/2, 64, p=3<" in source and "maxpool 3x3/2, p=1>" in source
    assert "conv 3x3, 64, p=1<" in source
    assert "conv 1x1/2, 128<" in source  # the projection shortcut pads nothing
    net = cnndsl.loads("network t\ninput [1, 8, 8]\nconv(4, k=3, p=same)\n"
                       "conv(4, k=3, p=((0, 1), (0, 1)))\nconv(4, k=(3, 5), p=(1, 2))\n"
                       "pad(1) conv(2, k=3)")
    source = gv.to_dot(net.graph)
    for label in ("conv 3x3, 4, p=same", "conv 3x3, 4, p=((0, 1), (0, 1))",
                  "conv 3x5, 4, p=(1, 2)", "pad 1>", "conv 3x3, 2>"):
        assert label in source


# ------------------------------------------------------------ LR on a deep network wraps

def test_left_to_right_starts_each_stage_on_a_row_of_its_own():
    source = dot_of("resnet18.cnn", rankdir="LR")
    between = re.findall(r'^\s*"?(\w+)\.[\w.]+"? -> "?(\w+)\.[\w.]+"? \[(.*)\]$', source, re.M)
    crossing = [attrs for a, b, attrs in between if a != b]
    assert crossing and all("constraint=false" in attrs for attrs in crossing)
    within = [attrs for a, b, attrs in between if a == b]
    assert within and not any("constraint=false" in attrs for attrs in within)
    assert "constraint=false" not in dot_of("resnet18.cnn")  # top to bottom: one column


@needs_dot
def test_left_to_right_resnet18_is_a_readable_picture(tmp_path):
    out = tmp_path / "r18.png"
    assert main(["draw", str(SPECS / "resnet18.cnn"), "--rankdir", "LR", "-o", str(out)]) == 0
    width, height = png_size(out)
    assert width <= 2500 and width / height < 3, (width, height)  # was 8367x343


# ------------------------------------------------------------------------------- --dpi

@needs_dot
def test_dpi_scales_the_png(tmp_path):
    plain, sharp = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["draw", str(SPECS / "lenet.cnn"), "-o", str(plain)]) == 0
    assert main(["draw", str(SPECS / "lenet.cnn"), "-o", str(sharp), "--dpi", "288"]) == 0
    (w1, h1), (w3, h3) = png_size(plain), png_size(sharp)
    assert abs(w3 - 3 * w1) <= 3 and abs(h3 - 3 * h1) <= 3  # dot's default is 96 dpi


@pytest.mark.parametrize("argv", [["-o", "x.svg", "--dpi", "200"], ["--dpi", "200"],
                                  ["-o", "x.png", "--dpi", "0"], ["-o", "x.png", "--dpi", "5000"]])
def test_dpi_is_for_png_only_and_bounded(tmp_path, capsys, argv):
    argv = [str(tmp_path / a) if a.startswith("x.") else a for a in argv]
    with pytest.raises(SystemExit) as info:
        main(["draw", str(SPECS / "lenet.cnn"), *argv])
    assert info.value.code == 2 and "--dpi takes" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------- a broken spec suggests --partial

BROKEN = "network t\ninput [1, 8, 8]\nconv(4, k=3) relu\nconv(4, k=30)\n"


def test_drawing_a_broken_spec_ends_with_the_partial_hint(tmp_path, capsys):
    spec = tmp_path / "bad.cnn"
    spec.write_text(BROKEN)
    out = tmp_path / "bad.dot"
    assert main(["draw", str(spec), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "error[E0304]" in err and f"1 error in {spec}" in err
    assert err.rstrip("\n").splitlines()[-1] == HINT
    assert not out.exists()
    assert main(["draw", str(spec), "-o", str(out), "--partial"]) == 1
    assert HINT not in capsys.readouterr().err and out.exists()


def test_a_spec_that_cannot_be_drawn_at_all_gets_no_hint(tmp_path, capsys):
    spec = tmp_path / "bad.cnn"
    spec.write_text("network t\ninput [1, 8, 8\n")  # a syntax error: nothing to draw
    assert main(["draw", str(spec)]) == 1
    assert HINT not in capsys.readouterr().err


# ------------------------------------------- --input HxW: flat sizes are labelled features

def test_formula_table_labels_a_flat_size_as_features(capsys):
    assert main(["check", str(SPECS / "lenet.cnn"), "--input", "1xHxW", "--min-input"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(x for x in lines if x.startswith("layer "))
    row = {x.split()[0]: x for x in lines if x.startswith("  ")}
    height = header.index("height")
    assert row["avgpool_2"][height:].startswith("floor(H/4) - 2")
    flatten = row["flatten_1"]
    assert re.search(r"flatten\s+features  16\*\(floor\(H/4\) - 2\)\*\(floor\(W/4\) - 2\)$",
                     flatten)
    assert flatten[height - len("features  "):height] == "features  "
    assert re.search(r"linear 120\s+features  120$", row["linear_1"])
    assert row["conv_1"].split()[-3:] == ["6", "H", "W"]
