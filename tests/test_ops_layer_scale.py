"""`layer_scale(init)`: ConvNeXt's per-channel factors, a bare nn.Parameter.

torchvision's CNBlock registers ``self.layer_scale = nn.Parameter(...)`` on
the block itself, so in its state_dict the factors come before every layer
of the block. The compiled module registers them the same way, on the
module of the scope the layer sits in, which is what lets
``transfer_weights`` pair the two by order. The hand-written block below
is torchvision's CNBlock in eval mode (stochastic depth is the identity).
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

import cnndsl
from cnndsl.backends.optimize import optimize

DIM = 8
CNBLOCK = f"""network cnblock(dim = {DIM})
input [dim, 7, 7]
add {{
    path {{ }}
    path block {{ conv(dim, k=7, p=3, groups=dim) layer_norm2d
                 channel_linear(4 * dim) gelu channel_linear(dim)
                 layer_scale(1e-6) as layer_scale stochastic_depth(0.1) }}
}}
"""


class Permute(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)


class HandCNBlock(nn.Module):
    """torchvision.models.convnext.CNBlock, in eval mode."""

    def __init__(self, dim: int, layer_scale: float = 1e-6):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim),
            Permute([0, 2, 3, 1]), nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim),
            Permute([0, 3, 1, 2]))
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)

    def forward(self, x):
        return self.layer_scale * self.block(x) + x


def _randomize(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p))


def test_parameter_sits_on_its_scope_first_in_state_dict():
    net = cnndsl.loads(CNBLOCK)
    model = net.to_module()
    keys = list(model.state_dict())
    assert keys[0] == "block.layer_scale"  # before block.conv_1.weight, as torchvision's
    assert "layer_scale" in model.block._parameters  # bare, on the path's module
    assert model.block.layer_scale.shape == (DIM, 1, 1)
    assert torch.equal(model.block.layer_scale, torch.ones(DIM, 1, 1) * 1e-6)
    hand = HandCNBlock(DIM)
    assert [tuple(t.shape) for t in model.state_dict().values()] == \
        [tuple(t.shape) for t in hand.state_dict().values()]
    assert net.params == sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in hand.parameters())


def test_compiled_block_equals_the_hand_written_one_after_transfer():
    hand = HandCNBlock(DIM).double().eval()
    _randomize(hand)
    model = cnndsl.loads(CNBLOCK).to_module().double().eval()
    cnndsl.transfer_weights(hand, model)
    assert torch.equal(model.block.layer_scale, hand.layer_scale)
    x = torch.randn(2, DIM, 7, 7, dtype=torch.float64)
    torch.testing.assert_close(model(x), hand(x), rtol=0, atol=1e-10)


def test_at_the_top_level_it_sits_on_the_network():
    net = cnndsl.loads("network t\ninput [4, 5, 5]\nconv(4, k=1) layer_scale(0.5) relu\n")
    model = net.to_module()
    assert list(model.state_dict()) == ["layer_scale_1", "conv_1.weight", "conv_1.bias"]
    x = torch.randn(3, 4, 5, 5)
    assert torch.equal(model(x), torch.relu(model.conv_1(x) * torch.full((4, 1, 1), 0.5)))


def test_on_a_flat_input_one_factor_per_feature():
    net = cnndsl.loads("network t\ninput [6]\nlayer_scale(2.0)\n")
    model = net.to_module()
    assert model.layer_scale_1.shape == (6,) and net.params == 6
    x = torch.randn(3, 6)
    assert torch.equal(model(x), x * 2.0)
    assert net.graph.graph["flops"] == 6


def test_it_learns():
    model = cnndsl.loads(CNBLOCK).to_module()
    model(torch.randn(2, DIM, 7, 7)).sum().backward()
    assert model.block.layer_scale.grad is not None
    assert any(p is model.block.layer_scale for p in model.parameters())


@pytest.mark.filterwarnings("ignore:.*torch.jit.*deprecated")
def test_torchscript_keeps_the_parameter_and_the_output():
    model = cnndsl.loads(CNBLOCK).to_module().eval()
    _randomize(model)
    scripted = torch.jit.script(model)
    assert list(scripted.state_dict()) == list(model.state_dict())
    x = torch.randn(2, DIM, 7, 7)
    assert torch.equal(scripted(x), model(x))


def test_the_standalone_source_builds_the_same_module(tmp_path):
    net = cnndsl.loads(CNBLOCK)
    path = tmp_path / "cnblock_module.py"
    path.write_text(net.to_source())
    spec = importlib.util.spec_from_file_location("cnblock_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.Cnblock().eval()
    model = net.to_module().eval()
    _randomize(model)
    built.load_state_dict(model.state_dict())
    assert list(built.state_dict()) == list(model.state_dict())
    x = torch.randn(2, DIM, 7, 7)
    assert torch.equal(built(x), model(x))


def test_optimize_keeps_trained_factors_and_folds_around_them():
    net = cnndsl.loads("network t\ninput [4, 6, 6]\n"
                       "stage s { conv(8, k=3, p=1, bias=false) bn layer_scale(1e-6) bn relu }\n")
    model = net.to_module().double().eval()
    _randomize(model)
    with torch.no_grad():
        for bn in (model.s.batchnorm_1, model.s.batchnorm_2):
            bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2)
    fast = optimize(net.graph, model)
    # the first bn folds into the conv; the second follows the layer scale, not a conv
    assert [name for name, _ in fast.s.named_children()] == ["conv_1", "batchnorm_2", "relu_1"]
    assert torch.equal(fast.s.layer_scale_1, model.s.layer_scale_1)
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(fast(x), model(x), rtol=0, atol=1e-10)


def test_init_must_be_finite():
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads('network t\ninput [4, 2, 2]\nlayer_scale("big")\n')
    assert err.value.diagnostics[0].code == "E0206"
