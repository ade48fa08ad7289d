"""`channel_linear(features)`: nn.Linear over the channels of an NCHW tensor.

torchvision's ConvNeXt writes it Permute([0, 2, 3, 1]) -> nn.Linear ->
Permute([0, 3, 1, 2]); the compiled layer must compute that, hold
nn.Linear's weight (features x C) so ConvNeXt's state_dict loads, and count
C * features MACs per position as fvcore counts aten::linear (checked here
with torch's own FLOP counter, which counts 2 per multiply-add).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnndsl


def _spec(shape, layer: str) -> str:
    return f"network t\ninput [{', '.join(map(str, shape))}]\n{layer}\n"


@settings(max_examples=30, deadline=None)
@given(shape=st.tuples(st.integers(1, 6), st.integers(1, 5), st.integers(1, 5)),
       features=st.integers(1, 9), bias=st.booleans())
def test_equals_permute_linear_permute(shape, features, bias):
    c, h, w = shape
    net = cnndsl.loads(_spec(shape, f"channel_linear({features}, bias={str(bias).lower()})"))
    assert net.output_shape == (features, h, w)
    model = net.to_module().double()
    layer = model.channel_linear_1
    assert layer.weight.shape == (features, c)  # nn.Linear's, not a 1x1 conv's
    assert list(model.state_dict()) == ["channel_linear_1.weight"] + \
        (["channel_linear_1.bias"] if bias else [])
    reference = nn.Linear(c, features, bias=bias).double()
    assert net.params == sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in reference.parameters())
    layer.load_state_dict(reference.state_dict())  # nn.Linear's keys, as they are
    x = torch.randn(2, c, h, w, dtype=torch.float64)
    expected = reference(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-12)
    assert net.graph.graph["macs"] == c * features * h * w
    assert net.graph.graph["flops"] == (features * h * w if bias else 0)


def test_macs_are_what_torch_counts_for_the_linear():
    net = cnndsl.loads(_spec((24, 7, 5), "channel_linear(96)"))
    model = net.to_module()
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 24, 7, 5))
    assert counter.get_total_flops() == 2 * net.graph.graph["macs"] == 2 * 24 * 96 * 7 * 5


def test_loads_a_convnext_linear_state_dict():
    src = nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.Linear(64, 16))
    net = cnndsl.loads(_spec((16, 3, 3), "channel_linear(64) gelu channel_linear(16)"))
    model = net.to_module()
    cnndsl.transfer_weights(src, model)
    x = torch.randn(2, 16, 3, 3)
    expected = src(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(model(x), expected)


def test_is_pointwise_and_needs_a_map():
    net = cnndsl.loads(_spec((8, 9, 9), "conv(8, k=3) channel_linear(4)"))
    assert net.graph.nodes["channel_linear_1"]["rf"].size == (3, 3)
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(_spec((8,), "channel_linear(4)"))
    assert err.value.diagnostics[0].code == "E0305"
