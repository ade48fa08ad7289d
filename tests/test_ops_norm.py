"""Group, instance and layer norm (over channels, ConvNeXt's) against torch.

On random shapes and arguments: the inferred shape is torch's, parameters
and buffers are what the torch modules hold, and the module compiled from
a spec computes torch's functional result (float64). FLOPs follow fvcore.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import cnndsl

spatial = st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5))
eps = st.sampled_from([1e-5, 1e-3, 1e-6])


def _spec(shape, layer: str) -> str:
    return f"network t\ninput [{', '.join(map(str, shape))}]\n{layer}\n"


def _counts(module) -> tuple[int, int]:
    return (sum(p.numel() for p in module.parameters()),
            sum(b.numel() for b in module.buffers()))


def _check(net, reference: nn.Module, functional, shape):
    """Shape, parameters and buffers, and the compiled module's output."""
    x = torch.randn(2, *shape, dtype=torch.float64) * 3 + 1
    reference = reference.double().eval()
    assert net.output_shape == tuple(reference(x).shape[1:])
    built = net.to_module().double().eval()
    g = net.graph.graph
    assert (g["params"], g["buffers"]) == _counts(built) == _counts(reference)
    with torch.no_grad():  # non-trivial affine parameters, the same in both
        for p in built.parameters():
            p.copy_(torch.rand_like(p) + 0.5)
    torch.testing.assert_close(built(x), functional(x, *built.parameters()), rtol=0, atol=1e-10)


@settings(max_examples=30)
@given(data=st.data(), shape=spatial, groups=st.integers(1, 3), eps=eps, affine=st.booleans())
def test_group_norm_equals_torch(data, shape, groups, eps, affine):
    c = groups * shape[0]
    shape = (c, *shape[1:])
    net = cnndsl.loads(_spec(shape, f"group_norm({groups}, eps={eps}, affine={str(affine).lower()})"))
    _check(net, nn.GroupNorm(groups, c, eps, affine),
           lambda x, *wb: F.group_norm(x, groups, *(wb or (None, None)), eps=eps), shape)


@settings(max_examples=30)
@given(shape=spatial, eps=eps, affine=st.booleans(), running=st.booleans())
def test_instance_norm_equals_torch(shape, eps, affine, running):
    layer = (f"instance_norm(eps={eps}, affine={str(affine).lower()}, "
             f"track_running_stats={str(running).lower()})")
    reference = nn.InstanceNorm2d(shape[0], eps, affine=affine, track_running_stats=running).eval()
    if shape[1:] == (1, 1) and not running:  # statistics of one value: torch refuses it
        with pytest.raises(ValueError):
            reference(torch.zeros(1, *shape))
        with pytest.raises(cnndsl.CnnError) as err:
            cnndsl.loads(_spec(shape, layer))
        assert err.value.diagnostics[0].code == "E0309"
        return
    net = cnndsl.loads(_spec(shape, layer))

    def functional(x, *wb):
        # in eval mode, the running statistics where tracked (fresh: mean 0, var 1)
        stats = (torch.zeros(shape[0], dtype=x.dtype), torch.ones(shape[0], dtype=x.dtype)) \
            if running else (None, None)
        return F.instance_norm(x, *stats, *(wb or (None, None)), use_input_stats=not running,
                               eps=eps)
    _check(net, reference, functional, shape)


@settings(max_examples=30)
@given(shape=spatial, eps=eps, affine=st.booleans())
def test_layer_norm2d_is_torchvision_layernorm2d(shape, eps, affine):
    net = cnndsl.loads(_spec(shape, f"layer_norm2d(eps={eps}, affine={str(affine).lower()})"))
    c = shape[0]

    class TorchvisionLayerNorm2d(nn.LayerNorm):  # torchvision.models.convnext.LayerNorm2d
        def forward(self, x):
            x = x.permute(0, 2, 3, 1)
            x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
            return x.permute(0, 3, 1, 2)

    def functional(x, *wb):  # normalise each position's channel vector
        mean = x.mean(1, keepdim=True)
        var = x.var(1, unbiased=False, keepdim=True)
        y = (x - mean) / torch.sqrt(var + eps)
        if wb:
            y = y * wb[0][:, None, None] + wb[1][:, None, None]
        return y
    _check(net, TorchvisionLayerNorm2d(c, eps, elementwise_affine=affine), functional, shape)
    built = net.to_module()
    (layer,) = [m for m in built.modules() if isinstance(m, nn.LayerNorm)]
    assert sorted(layer.state_dict()) == (["bias", "weight"] if affine else [])


def test_layer_norm2d_default_eps_is_convnext():
    net = cnndsl.loads(_spec((8, 4, 4), "layer_norm2d"))
    (layer,) = [m for m in net.to_module().modules() if isinstance(m, nn.LayerNorm)]
    assert layer.eps == 1e-6 and layer.normalized_shape == (8,)


@pytest.mark.parametrize("layer, bad", [("group_norm(4)", "groups (4)")])
def test_channels_must_divide_into_groups(layer, bad):
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(_spec((6, 4, 4), layer))
    (d,) = err.value.diagnostics
    assert d.code == "E0306" and bad in d.message and d.label == "input has 6 channels"
    with pytest.raises((ValueError, RuntimeError)):
        nn.GroupNorm(4, 6)


@pytest.mark.parametrize("layer", ["group_norm(1)", "instance_norm", "layer_norm2d"])
def test_a_flat_input_is_refused(layer):
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(_spec((16,), layer))
    assert err.value.diagnostics[0].code == "E0305"


@pytest.mark.parametrize("layer, per_element", [
    ("group_norm(2)", 5), ("group_norm(2, affine=false)", 4), ("instance_norm", 4),
    ("instance_norm(affine=true)", 5), ("layer_norm2d", 5), ("layer_norm2d(affine=false)", 4),
])
def test_flops_follow_fvcore_norm_counter(layer, per_element):
    # fvcore's norm_flop_counter: 5 per input element with an affine, 4 without
    net = cnndsl.loads(_spec((4, 3, 5), layer))
    assert net.graph.graph["flops"] == 4 * 3 * 5 * per_element
