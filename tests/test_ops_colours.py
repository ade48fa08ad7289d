"""Every op family has its own fill in diagrams, apart from blocks' and errors'."""

from __future__ import annotations

import re

import cnndsl
from cnndsl.backends.graphviz_dot import ERROR_FILL, FILL, GROUP_FILL, to_dot
from cnndsl.ops import INPUT, REGISTRY


def test_every_family_has_a_fill_of_its_own():
    families = {op.family for op in (*REGISTRY.values(), INPUT)}
    assert families <= set(FILL), f"no fill for {sorted(families - set(FILL))}"
    fills = [FILL[f] for f in families]
    assert len(set(fills)) == len(fills), "two families share a fill"
    assert not {GROUP_FILL, ERROR_FILL} & set(fills)


def test_new_families_are_drawn_in_their_fill():
    # each layer heads its own box: read by two layers, or first after a merge
    net = cnndsl.loads("network t\ninput [8, 6, 6]\n"
                       "pad(1) -> padded\n"
                       "concat { path { chunk(2, 0) } path { from padded chunk(2, 1) } }\n"
                       "add { path { layer_scale(0.5) } path { scale(2.0) } }\n")
    dot = to_dot(net.graph)
    for node, family in [("pad_1", "padding"), ("path_1.chunk_1", "channel"),
                         ("path_3.layer_scale_1", "scale"), ("path_4.scale_1", "scale")]:
        box = re.compile(rf'\s*"?{re.escape(node)}"?\s*\[')
        line = next(ln for ln in dot.splitlines() if box.match(ln))
        assert f'fillcolor="{FILL[family]}"' in line, (node, line)
