"""Diagrams of networks with skips, tensor arguments and several outputs.

A skip (a path that starts from an earlier tensor, `path { from x }`) is
drawn across its level: its two ends share a rank, and so does everything
between the same skips, so a U-Net's contracting path goes down, its
expanding path comes back up, and the skips run straight across (the
picture is checked on the laid-out coordinates `dot -Tplain` gives). A
tensor argument (`crop(to=x)`) is a dashed "size" edge that does not steer
the layout; every declared output has a box with its shape.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_draw import Dot

import cnndsl
from cnndsl.backends import graphviz_dot as gv

ROOT = Path(__file__).resolve().parent.parent
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")

# Not U-Net by name: any network whose merge takes a path from an earlier tensor.
HOURGLASS = """network hourglass
input [3, 32, 32]
conv(8, k=3, p=1) relu -> top
maxpool(2)
conv(16, k=3, p=1) relu -> middle
maxpool(2)
conv(16, k=3, p=1) relu
upsample(2) -> up1
concat { path { from middle } path { } }
conv(16, k=3, p=1) relu
upsample(to=top)
concat { path { from top } path { } }
conv(2, k=1)
"""


def _ranks(source):
    """The rank=same groups of a dot source, as lists of node names."""
    groups = re.findall(r"\{\s*rank=same\s*((?:(?:\"[^\"]+\"|[\w.@]+)\s*)+)\}", source)
    return [[n.strip('"') for n in re.findall(r'"[^"]+"|[\w.@]+', g)] for g in groups]


def _rank_of(source):
    return {n: k for k, group in enumerate(_ranks(source)) for n in group}


def _unet(**options):
    net = cnndsl.load(ROOT / "specs" / "unet.cnn")
    return gv.to_dot(net.graph, gv.DrawOptions(**options))


def test_a_skip_is_drawn_across_its_level():
    source = gv.to_dot(cnndsl.loads(HOURGLASS).graph)
    d, rank = Dot(source), _rank_of(source)
    skips = {e: a for e, a in d.edges.items() if a.get("class") == "skip"}
    assert set(skips) == {("conv_2", "concat_1"), ("conv_1", "concat_2")}
    for (tail, head), attrs in skips.items():
        assert rank[tail] == rank[head]  # across, not down
        assert (attrs["tailport"], attrs["headport"]) == ("e", "w")
        assert attrs["penwidth"] == "2" and "style" not in attrs  # solid, not a shortcut
    # one level per skip nesting: top, middle, bottom
    assert rank["conv_1"] == rank["concat_2"] == rank["conv_5"] == rank["@output"]
    assert rank["maxpool_1"] == rank["conv_2"] == rank["concat_1"] == rank["conv_4"] \
        == rank["upsample_2"]
    assert rank["maxpool_2"] == rank["conv_3"] == rank["upsample_1"]
    assert len({rank["conv_1"], rank["conv_2"], rank["maxpool_2"]}) == 3


def test_the_way_back_up_is_written_reversed_so_it_points_up():
    d = Dot(gv.to_dot(cnndsl.loads(HOURGLASS).graph))
    # upsample_1 (bottom) feeds concat_1 (a level up): written head -> tail, dir=back
    assert d.edges[("concat_1", "upsample_1")]["dir"] == "back"
    assert ("upsample_1", "concat_1") not in d.edges
    assert "dir" not in d.edges[("conv_2", "maxpool_2")]  # the way down is as written


def test_a_tensor_argument_is_a_dashed_size_edge_that_does_not_steer_the_layout():
    d = Dot(gv.to_dot(cnndsl.loads(HOURGLASS).graph))
    size = [(e, a) for e, a in d.edges.items() if a.get("class") == "size"]
    assert len(size) == 1
    (tail, head), attrs = size[0]
    assert {tail, head} == {"conv_1", "upsample_2"}
    assert attrs["style"] == "dashed" and attrs["constraint"] == "false"
    assert attrs["label"] == "size (to=)"  # no shape: it carries no data


def test_networks_without_skips_have_no_levels():
    for spec in ("resnet18.cnn", "googlenet.cnn"):
        source = gv.to_dot(cnndsl.load(ROOT / "specs" / spec).graph)
        assert "class=skip" not in source and "dir=back" not in source
    # a residual written with `from` is a skip too: it jumps over layers
    source = gv.to_dot(cnndsl.loads(
        "network s\ninput [3, 8, 8]\nconv(4, k=3, p=1) -> a\nconv(4, k=3, p=1)\n"
        "conv(4, k=3, p=1)\nadd { path { } path { from a } }\n").graph)
    assert Dot(source).edges[("conv_1", "add_1")]["class"] == "skip"


def test_every_output_has_its_box_with_its_shape():
    net = cnndsl.loads("network heads\ninput [3, 16, 16]\nconv(8, k=3, p=1) relu -> trunk\n"
                       "global_avgpool flatten linear(10)\noutput logits\n"
                       "from trunk\nconv(2, k=1)\noutput mask\n"
                       "from trunk\nglobal_avgpool flatten linear(3)\noutput aux (training)\n")
    d = Dot(gv.to_dot(net.graph))
    outputs = {n: d.text(n) for n in d.nodes if n.startswith(gv.OUTPUT)}
    assert outputs == {"@output.logits": "output logits 10",
                       "@output.mask": "output mask 2x16x16",
                       "@output.aux": "output aux 3 training only"}
    assert "dashed" in d.nodes["@output.aux"]["style"]
    assert "dashed" not in d.nodes["@output.logits"].get("style", "")
    assert ("linear_1", "@output.logits") in d.edges and ("conv_2", "@output.mask") in d.edges
    # without `output`, one box for the last tensor, its shape on the edge
    d = Dot(gv.to_dot(cnndsl.loads("network t\ninput [3, 8, 8]\nconv(4, k=1)\n").graph))
    assert d.text(gv.OUTPUT) == "output"
    assert d.edges[("conv_1", gv.OUTPUT)]["label"] == "4x8x8"


def test_the_unet_levels_share_ranks():
    for depth in (None, 1):
        source = _unet(depth=depth)
        d, rank = Dot(source), _rank_of(source)
        assert len(_ranks(source)) == 5  # four pools down, four up-convs back up
        skips = [e for e, a in d.edges.items() if a.get("class") == "skip"]
        assert len(skips) == 4
        assert all(rank[t] == rank[h] for t, h in skips)
        ups = [e for e, a in d.edges.items() if a.get("dir") == "back" and "class" not in a]
        assert len(ups) == 4  # each up-conv climbs one level
        assert len([a for a in d.edges.values() if a.get("class") == "size"]) == 4
        assert "@output" in _ranks(source)[0]  # the output ends the top level


@needs_dot
def test_the_unet_picture_is_a_u():
    """On dot's layout: levels go down then back up, each skip is level."""
    plain = subprocess.run(["dot", "-Tplain"], input=_unet(depth=1), capture_output=True,
                           text=True, check=True, timeout=60).stdout
    x, y = {}, {}
    for line in plain.splitlines():
        parts = line.split()
        if parts and parts[0] == "node":
            x[parts[1].strip('"')], y[parts[1].strip('"')] = float(parts[2]), float(parts[3])
    down = ["double_conv_1.conv_2"] + [f"down_{k}.double_conv_1" for k in range(1, 5)]
    up = [f"up_{k}.concat_1" for k in range(4, 0, -1)]
    heights = [y[n] for n in down]
    assert heights == sorted(heights, reverse=True) and len(set(heights)) == 5  # going down
    for level, concat in enumerate(up):  # each skip's ends level, decoder right of encoder
        assert y[concat] == pytest.approx(y[down[level]])
        assert x[concat] > x[down[level]]
    # the bottom is narrower than the top: the U's sides close in
    assert x["up_1.conv_transpose_1"] - x["down_4.maxpool_1"] < \
        x["@output"] - x["input"]

