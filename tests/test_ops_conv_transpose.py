"""`conv_transpose` against torch.nn.ConvTranspose2d: shapes, parameters, outputs,
fvcore's MACs, and the arguments torch refuses, refused with a diagnostic."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnndsl

pairs = st.tuples(st.integers(1, 4), st.integers(1, 4))


def _txt(pair) -> str:
    return f"({pair[0]}, {pair[1]})"


def _spec(shape, body: str) -> str:
    return f"network t\ninput [{', '.join(map(str, shape))}]\n{body}\n"


@settings(max_examples=60, deadline=None)
@given(c=st.sampled_from([2, 4]), out=st.sampled_from([2, 4, 6]), h=st.integers(1, 6),
       w=st.integers(1, 6), k=pairs, s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       d=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       p=st.tuples(st.integers(0, 3), st.integers(0, 3)),
       op=st.tuples(st.integers(0, 2), st.integers(0, 2)), groups=st.sampled_from([1, 2]),
       bias=st.booleans())
def test_conv_transpose_equals_torch(c, out, h, w, k, s, d, p, op, groups, bias):
    kwargs = dict(stride=s, padding=p, output_padding=op, groups=groups, dilation=d, bias=bias)
    text = (f"conv_transpose({out}, k={_txt(k)}, s={_txt(s)}, p={_txt(p)}, op={_txt(op)}, "
            f"g={groups}, d={_txt(d)}, bias={'true' if bias else 'false'})")
    x = torch.randn(2, c, h, w, dtype=torch.float64)
    try:
        module = torch.nn.ConvTranspose2d(c, out, k, **kwargs).double()
        expected = module(x)
    except (RuntimeError, ValueError):
        expected = None
    try:
        net = cnndsl.loads(_spec((c, h, w), text))
    except cnndsl.CnnError as err:
        assert expected is None, err
        assert err.diagnostics[0].code in ("E0206", "E0304")
        return
    assert expected is not None, "torch refuses this transposed conv, cnndsl did not"
    assert net.output_shape == tuple(expected.shape[1:])
    built = net.to_module().double()
    assert net.params == sum(q.numel() for q in built.parameters()) \
        == sum(q.numel() for q in module.parameters())
    built.load_state_dict(dict(zip(built.state_dict(), module.state_dict().values())))
    assert torch.allclose(built(x), expected)
    # fvcore's transposed conv: input elements x out/groups x kernel
    node = net.graph.nodes["conv_transpose_1"]
    assert node["macs"] == c * h * w * (out // groups) * k[0] * k[1]
    assert node["flops"] == (out * net.output_shape[1] * net.output_shape[2] if bias else 0)


def test_unet_up_convolution_doubles_the_size():
    net = cnndsl.loads(_spec((1024, 28, 28), "conv_transpose(512, k=2, s=2)"))
    assert net.output_shape == (512, 56, 56)
    assert net.params == 1024 * 512 * 4 + 512
    assert net.graph.graph["macs"] == 1024 * 28 * 28 * 512 * 4


@pytest.mark.parametrize("body, code, words", [
    ("conv_transpose(4, k=3, s=2, op=2)", "E0206", "output padding 2 must be smaller"),
    ("conv_transpose(3, k=3, g=2)", "E0206", "divisible by groups"),
    ("conv_transpose(4, k=3, g=4)", "E0306", "input channels (2) must be divisible by groups"),
    ("conv_transpose(4, k=1, p=2)", "E0304", "output would be empty"),
    ("flatten conv_transpose(4, k=3)", "E0305", "needs a CxHxW input"),
])
def test_what_torch_refuses_is_a_diagnostic(body, code, words):
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(_spec((2, 3, 3), body))
    found = err.value.diagnostics[0]
    assert found.code == code and words in found.message
    assert found.span.line == 3


def test_aliases_and_the_torch_module():
    net = cnndsl.loads(_spec((4, 5, 5), "deconv(out=8, kernel=3, s=2, p=1, output_padding=1) "
                                        "conv_transpose2d(c=2, k=(2, 3), d=2)"))
    first, second = net.to_module().children()
    assert (first.stride, first.padding, first.output_padding) == ((2, 2), (1, 1), (1, 1))
    assert second.dilation == (2, 2) and net.output_shape == (2, 12, 14)
