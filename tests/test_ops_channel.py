"""Channel shuffle and chunk against torch, and a ShuffleNetV2 unit built from them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import cnndsl


def _spec(shape, body: str) -> str:
    return f"network t\ninput [{', '.join(map(str, shape))}]\n{body}\n"


def shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """torchvision.models.shufflenetv2.channel_shuffle."""
    b, c, h, w = x.shape
    x = x.view(b, groups, c // groups, h, w)
    return torch.transpose(x, 1, 2).contiguous().view(b, -1, h, w)


@settings(max_examples=40)
@given(groups=st.integers(1, 4), per=st.integers(1, 3), h=st.integers(1, 4), w=st.integers(1, 4))
def test_channel_shuffle_equals_torch(groups, per, h, w):
    shape = (groups * per, h, w)
    net = cnndsl.loads(_spec(shape, f"channel_shuffle({groups})"))
    x = torch.randn(2, *shape, dtype=torch.float64)
    assert net.output_shape == tuple(nn.ChannelShuffle(groups)(x).shape[1:])
    built = net.to_module().eval()
    assert net.params == sum(p.numel() for p in built.parameters()) == 0
    assert torch.equal(built(x), shuffle(x, groups))


@settings(max_examples=60)
@given(parts=st.integers(1, 4), per=st.integers(1, 3), data=st.data(),
       spatial=st.one_of(st.just(()), st.tuples(st.integers(1, 4), st.integers(1, 4))))
def test_chunk_equals_torch_chunk(parts, per, data, spatial):
    index = data.draw(st.integers(0, parts - 1))
    shape = (parts * per, *spatial)
    net = cnndsl.loads(_spec(shape, f"chunk({parts}, {index})"))
    x = torch.randn(2, *shape, dtype=torch.float64)
    expected = x.chunk(parts, 1)[index]
    assert net.output_shape == tuple(expected.shape[1:])
    assert torch.equal(net.to_module()(x), expected)


@pytest.mark.parametrize("body, message", [
    ("channel_shuffle(4)", "input channels (6) must be divisible by groups (4)"),
    ("chunk(4, 0)", "input channels (6) must be divisible by parts (4)"),
])
def test_channels_must_divide(body, message):
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(_spec((6, 4, 4), body))
    (d,) = err.value.diagnostics
    assert (d.code, d.message, d.label) == ("E0306", message, "input has 6 channels")


def test_chunk_index_beyond_the_parts_is_an_argument_error():
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(_spec((6, 4, 4), "chunk(2, 2)"))
    (d,) = err.value.diagnostics
    assert d.code == "E0206" and d.message == "index 2 of 2 parts: the last is 1"


UNIT = """network unit(c = 8)
input [2 * c, 6, 5]
concat {
    path { chunk(2, 0) }
    path { chunk(2, 1)
           conv(c, k=1, bias=false) bn relu
           conv(c, k=3, p=1, groups=c, bias=false) bn
           conv(c, k=1, bias=false) bn relu }
}
channel_shuffle(2)
"""


def test_a_shufflenet_v2_unit_equals_torchvision_functional():
    net = cnndsl.loads(UNIT)
    model = net.to_module().double().eval()
    w = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    convs = [w[k] for k in w if k.endswith("weight") and w[k].dim() == 4]
    bns = [[w[k.replace("weight", part)] for part in ("running_mean", "running_var", "weight",
                                                        "bias")]
           for k in w if k.endswith("weight") and w[k].dim() == 1]
    with torch.no_grad():  # batch norms that do something
        for stats in bns:
            for t, lo in zip(stats, (-1, 0.5, 0.5, -1)):
                t.copy_(torch.rand_like(t) + lo)
    x = torch.randn(2, 16, 6, 5, dtype=torch.float64)

    def bn(y, i):
        mean, var, weight, bias = bns[i]
        return F.batch_norm(y, mean, var, weight, bias, eps=1e-5)

    # torchvision's InvertedResidual with stride 1
    x1, x2 = x.chunk(2, dim=1)
    y = F.relu(bn(F.conv2d(x2, convs[0]), 0))
    y = bn(F.conv2d(y, convs[1], padding=1, groups=8), 1)
    y = F.relu(bn(F.conv2d(y, convs[2]), 2))
    expected = shuffle(torch.cat((x1, y), dim=1), 2)
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-10)
    assert net.params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("body", ["chunk(2, 1)", "channel_shuffle(2)"])
def test_view_declarations_are_what_torch_does(body):
    # The memory pass counts a view as its input's storage: chunk must really be one.
    net = cnndsl.loads(_spec((8, 4, 4), body))
    (node,) = net.layers()
    x = torch.randn(1, 8, 4, 4)
    out = net.to_module()(x)
    shares = out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    assert net.graph.nodes[node]["op"].view == shares
    assert net.graph.graph["flops"] == 0  # neither computes anything
