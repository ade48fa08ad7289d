"""The activations named as PyTorch names them, each against torch.

For every one, on random input shapes and arguments: the inferred shape is
the shape torch's module really returns, the parameters are what the
module built from a spec holds, and that module computes torch's
functional result (float64).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import cnndsl

# name -> (spec arguments strategy, independent torch module, functional result)
ACTIVATIONS = {
    "relu6": (st.just({}), lambda a, c: nn.ReLU6(), lambda x, a: F.relu6(x)),
    "hardswish": (st.just({}), lambda a, c: nn.Hardswish(), lambda x, a: F.hardswish(x)),
    "hardsigmoid": (st.just({}), lambda a, c: nn.Hardsigmoid(), lambda x, a: F.hardsigmoid(x)),
    "silu": (st.just({}), lambda a, c: nn.SiLU(), lambda x, a: F.silu(x)),
    "mish": (st.just({}), lambda a, c: nn.Mish(), lambda x, a: F.mish(x)),
    "gelu": (st.fixed_dictionaries({}, optional={"approximate": st.sampled_from(["none", "tanh"])}),
             lambda a, c: nn.GELU(**a),
             lambda x, a: F.gelu(x, approximate=a.get("approximate", "none"))),
    "leaky_relu": (st.fixed_dictionaries({}, optional={"negative_slope": st.sampled_from([0.2, 0.5])}),
                   lambda a, c: nn.LeakyReLU(**a),
                   lambda x, a: F.leaky_relu(x, a.get("negative_slope", 0.01))),
    "elu": (st.fixed_dictionaries({}, optional={"alpha": st.sampled_from([0.5, 2.0])}),
            lambda a, c: nn.ELU(**a), lambda x, a: F.elu(x, a.get("alpha", 1.0))),
}


def _call(name: str, args: dict) -> str:
    if not args:
        return name
    shown = ", ".join(f"{k}={v!r}".replace("'", '"') for k, v in args.items())
    return f"{name}({shown})"


shapes = st.one_of(st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(1, 6)),
                   st.tuples(st.integers(1, 12)))


def _spec(shape, layer: str) -> str:
    return f"network t\ninput [{', '.join(map(str, shape))}]\n{layer}\n"


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@settings(max_examples=15)
@given(data=st.data(), shape=shapes)
def test_activation_equals_torch(name, data, shape):
    strategy, module, functional = ACTIVATIONS[name]
    args = data.draw(strategy)
    net = cnndsl.loads(_spec(shape, _call(name, args)))
    x = torch.randn(2, *shape, dtype=torch.float64) * 4  # both sides of every kink
    expected = module(args, shape[0]).double()(x)
    assert net.output_shape == tuple(expected.shape[1:])
    built = net.to_module().double().eval()
    assert net.params == _params(built) == 0
    torch.testing.assert_close(built(x), functional(x, args), rtol=0, atol=1e-12)


@settings(max_examples=25)
@given(shape=shapes, per_channel=st.booleans(), init=st.sampled_from([0.25, 0.1, -0.5]))
def test_prelu_equals_torch(shape, per_channel, init):
    c = shape[0]
    n = c if per_channel else 1
    layer = f"prelu({n}, init={init})" if per_channel or init != 0.25 else "prelu"
    net = cnndsl.loads(_spec(shape, layer))
    reference = nn.PReLU(n, init=init).double()
    x = torch.randn(2, *shape, dtype=torch.float64)
    assert net.output_shape == tuple(reference(x).shape[1:])
    built = net.to_module().double().eval()
    assert net.params == _params(built) == _params(reference) == n
    weight = torch.full((n,), init).double()  # nn.PReLU fills a float32 weight
    torch.testing.assert_close(built(x), F.prelu(x, weight), rtol=0, atol=1e-12)


def test_prelu_slopes_must_broadcast_over_the_channels():
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(_spec((16, 8, 8), "prelu(3)"))
    (d,) = err.value.diagnostics
    assert d.code == "E0308" and "3 slopes" in d.message and "16 channels" in d.message
    assert "`prelu(16)`" in d.help
    with pytest.raises(RuntimeError):  # torch refuses it too, but only when it runs
        nn.PReLU(3)(torch.zeros(1, 16, 8, 8))


def test_hardsigmoid_is_a_layer_not_a_misspelt_sigmoid():
    net = cnndsl.loads(_spec((3, 4, 4), "hardsigmoid hardswish"))
    assert [net.graph.nodes[v]["op"].name for v in net.layers()] == ["hardsigmoid", "hardswish"]


def test_gelu_approximation_is_checked():
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(_spec((3, 4, 4), 'gelu("erf")'))
    assert err.value.diagnostics[0].code == "E0206"
    assert '"none" or "tanh"' in err.value.diagnostics[0].message


@pytest.mark.parametrize("name, per_element", [
    ("relu6", 2), ("hardsigmoid", 4), ("hardswish", 5), ("silu", 5), ("gelu", 5),
    ('gelu("tanh")', 13), ("leaky_relu", 2), ("elu", 4), ("mish", 9), ("prelu", 2),
])
def test_flops_count_elementary_operations_per_element(name, per_element):
    net = cnndsl.loads(_spec((3, 4, 5), name))
    assert net.graph.graph["flops"] == 3 * 4 * 5 * per_element
    assert net.graph.graph["macs"] == 0
