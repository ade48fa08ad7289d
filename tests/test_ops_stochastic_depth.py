"""`stochastic_depth(p, mode)` against torchvision.ops.stochastic_depth.

torchvision is not installed here (its wheel needs torch's CUDA build), so
its function is copied below, line for line from torchvision 0.29's
torchvision/ops/stochastic_depth.py, minus the argument checks and the
usage logging. With the same seed, the compiled module must draw the same
noise and give the same tensor, bit for bit.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnndsl
from cnndsl.passes import memory


def torchvision_stochastic_depth(input, p: float, mode: str, training: bool = True):
    if not training or p == 0.0:
        return input
    survival_rate = 1.0 - p
    if mode == "row":
        size = [input.shape[0]] + [1] * (input.ndim - 1)
    else:
        size = [1] * input.ndim
    noise = torch.empty(size, dtype=input.dtype, device=input.device)
    noise = noise.bernoulli_(survival_rate)
    if survival_rate > 0.0:
        noise.div_(survival_rate)
    return input * noise


def _spec(shape, layer: str) -> str:
    return f"network t\ninput [{', '.join(map(str, shape))}]\n{layer}\n"


shapes = st.one_of(st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)),
                   st.tuples(st.integers(1, 10)))
probabilities = st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0])
modes = st.sampled_from(["row", "batch"])


@settings(max_examples=40, deadline=None)
@given(shape=shapes, p=probabilities, mode=modes, seed=st.integers(0, 2**31 - 1))
def test_training_draws_and_scales_as_torchvision(shape, p, mode, seed):
    net = cnndsl.loads(_spec(shape, f'stochastic_depth({p}, mode="{mode}")'))
    assert net.output_shape == shape and net.params == 0
    model = net.to_module().double().train()
    assert sum(t.numel() for t in model.state_dict().values()) == 0
    x = torch.randn(8, *shape, dtype=torch.float64)
    torch.manual_seed(seed)
    ours = model(x)
    torch.manual_seed(seed)
    assert torch.equal(ours, torchvision_stochastic_depth(x, p, mode))


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_rows_are_dropped_whole_and_survivors_scaled(mode):
    p = 0.5
    model = cnndsl.loads(_spec((3, 4, 4), f'stochastic_depth({p}, mode="{mode}")')) \
        .to_module().double().train()
    x = torch.rand(16, 3, 4, 4, dtype=torch.float64) + 1  # no zero of its own
    dropped_somewhere = kept_somewhere = mixed = False
    for seed in range(20):
        torch.manual_seed(seed)
        y = model(x)
        dropped = (y == 0).flatten(1).all(1)
        kept = torch.isclose(y, x / (1 - p), rtol=0, atol=1e-12).flatten(1).all(1)
        assert bool((dropped ^ kept).all()), "a row is partly dropped or wrongly scaled"
        dropped_somewhere |= bool(dropped.any())
        kept_somewhere |= bool(kept.any())
        mixed |= bool(dropped.any() and kept.any())
    assert dropped_somewhere and kept_somewhere
    assert mixed == (mode == "row")  # "batch" drops or keeps the batch as one


@pytest.mark.parametrize("layer", ["stochastic_depth(0.3)", 'stochastic_depth(1.0, mode="batch")',
                                   "stochastic_depth(0.5, mode=\"row\")"])
def test_eval_mode_is_the_identity_and_p0_too(layer):
    x = torch.randn(4, 3, 5, 5)
    model = cnndsl.loads(_spec((3, 5, 5), layer)).to_module().eval()
    assert model(x) is x or torch.equal(model(x), x)
    still = cnndsl.loads(_spec((3, 5, 5), "stochastic_depth(0.0)")).to_module().train()
    assert torch.equal(still(x), x)


def test_bad_arguments_are_diagnostics():
    for layer, code in [("stochastic_depth(1.5)", "E0206"), ('stochastic_depth(0.1, mode="col")',
                                                             "E0206"),
                        ("stochastic_depth", "E0204")]:
        with pytest.raises(cnndsl.CnnError) as err:
            cnndsl.loads(_spec((3, 4, 4), layer))
        assert err.value.diagnostics[0].code == code, layer


@pytest.mark.filterwarnings("ignore:.*torch.jit.*deprecated")
def test_scripted_module_matches_in_both_modes():
    net = cnndsl.loads(_spec((3, 4, 4), 'conv(4, k=1) stochastic_depth(0.4, mode="row") '
                                        "conv(4, k=1)"))
    model = net.to_module()
    scripted = torch.jit.script(model)
    x = torch.randn(6, 3, 4, 4)
    for train in (False, True):
        model.train(train), scripted.train(train)
        torch.manual_seed(1)
        a = model(x)
        torch.manual_seed(1)
        assert torch.equal(a, scripted(x))


def test_warns_only_where_nothing_learnable_follows():
    top = "network t\ninput [8, 6, 6]\n"
    residual = "add { path { } path { conv(8, k=3, p=1) stochastic_depth(0.2) } }\n"
    end = cnndsl.loads(top + residual)
    assert [w.code for w in end.warnings] == ["W0303"]
    assert "stochastic_depth" in end.warnings[0].message
    # as in EfficientNet and ConvNeXt: more blocks, then a head with weights
    headed = cnndsl.loads(top + residual + residual + "global_avgpool flatten linear(10)\n")
    assert headed.warnings == []


def test_training_memory_counts_its_output_as_a_new_tensor():
    # In training stochastic depth makes a new tensor (x * noise): the second conv
    # keeps it, apart from the relu output that relu keeps. At inference it is a view.
    net = cnndsl.loads("network t\ninput [1, 8, 8]\n"
                       "conv(4, k=3) relu stochastic_depth(0.5) conv(4, k=1)\n")
    memory.run(net.graph)
    conv_in, relu_out, sd_out = 1 * 8 * 8 * 4, 4 * 6 * 6 * 4, 4 * 6 * 6 * 4
    assert net.graph.graph["memory"]["training_saved"] == conv_in + relu_out + sd_out
    model = net.to_module().train()
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in weights and t.numel() > t.shape[0]:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    torch.manual_seed(0)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.rand(2, 1, 8, 8))
    assert sum(saved.values()) == 2 * net.graph.graph["memory"]["training_saved"]
