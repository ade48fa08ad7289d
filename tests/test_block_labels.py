"""A block call is shown with the values of its arguments (issue 12, item 11)."""

from __future__ import annotations

import cnndsl
from conftest import SPECS


def test_block_rows_show_values_not_the_text_of_the_call():
    net = cnndsl.load(SPECS / "vgg.cnn")
    table = net.summary()
    assert "vgg_block(1, 64)" in table and "vgg_block(2, 512)" in table
    assert "vgg_block(n, c)" not in table
    dot = net.draw("dot")
    assert "vgg_block(2, 256)" in dot and "vgg_block(n, c)" not in dot


def test_floats_are_short_and_long_calls_are_cut():
    net = cnndsl.load("zoo:convnext_tiny")
    labels = {label for v in net.layers()
              for kind, _, label in net.graph.nodes[v]["scope"] if kind == "block"}
    assert "cnblock(96, 0.005882)" in labels
    text = "".join(f"{i}, " for i in range(40))
    spec = f"network t\ninput [1, 4, 4]\nblock b(t) {{ relu }}\nb(({text}))\n"
    label = cnndsl.loads(spec).graph.nodes["b_1.relu_1"]["scope"][0][2]
    assert len(label) <= 60 and label.endswith("...)")
