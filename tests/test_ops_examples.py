"""Every op's example (the one docs/language.md shows) checks, uses the op, and
builds a torch module whose output has the inferred shape."""

from __future__ import annotations

import pytest
import torch

import cnndsl
from cnndsl.ops import REGISTRY


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_example_checks_uses_the_op_and_runs(name):
    op = REGISTRY[name]
    assert op.example, f"`{name}` has no example"
    net = cnndsl.loads(f"network {name}_example\n{op.example}\n")
    assert any(net.graph.nodes[v]["op"] is op for v in net.layers()), f"`{name}` unused"
    model = net.to_module().eval()
    with torch.no_grad():
        out = model(torch.randn(2, *net.input_shape))
    assert tuple(out.shape[1:]) == net.output_shape
    assert net.params == sum(p.numel() for p in model.parameters())
    assert net.graph.graph["buffers"] == sum(b.numel() for b in model.buffers())
