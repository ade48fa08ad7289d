"""`scale(factor)`: a constant multiplication, as Inception-ResNet scales its residuals."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import cnndsl

shapes = st.one_of(st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)),
                   st.tuples(st.integers(1, 10)))


@settings(max_examples=30)
@given(shape=shapes, factor=st.floats(-4, 4, allow_nan=False).map(lambda f: round(f, 6)))
def test_scale_equals_torch(shape, factor):
    net = cnndsl.loads(f"network t\ninput [{', '.join(map(str, shape))}]\nscale({factor!r})\n")
    x = torch.randn(2, *shape, dtype=torch.float64)
    model = net.to_module()
    assert net.output_shape == tuple((x * factor).shape[1:])
    assert net.params == sum(p.numel() for p in model.parameters()) == 0
    assert torch.equal(model(x), x * factor)
    assert net.graph.graph["flops"] == x[0].numel()


INCEPTION_RESNET = """network block35(scale_by = 0.17)
input [32, 9, 9]
add {
    path { }
    path residual { concat { path { conv(8, k=1) } path { conv(8, k=1) conv(8, k=3, p=1) } }
                    conv(32, k=1) scale(scale_by) }
}
relu
"""


def test_inception_resnet_residual_scaling_equals_torch_functional():
    net = cnndsl.loads(INCEPTION_RESNET)
    model = net.to_module().double().eval()
    w = model.state_dict()
    x = torch.randn(2, 32, 9, 9, dtype=torch.float64)
    b1 = F.conv2d(x, w["residual.path_1.conv_1.weight"], w["residual.path_1.conv_1.bias"])
    b2 = F.conv2d(x, w["residual.path_2.conv_1.weight"], w["residual.path_2.conv_1.bias"])
    b2 = F.conv2d(b2, w["residual.path_2.conv_2.weight"], w["residual.path_2.conv_2.bias"],
                  padding=1)
    r = F.conv2d(torch.cat([b1, b2], 1), w["residual.conv_1.weight"], w["residual.conv_1.bias"])
    torch.testing.assert_close(model(x), F.relu(x + 0.17 * r), rtol=0, atol=1e-12)
    assert net.params == sum(p.numel() for p in model.parameters())


def test_the_factor_must_be_a_finite_number():
    for bad in ('"big"', "true"):
        with pytest.raises(cnndsl.CnnError) as err:
            cnndsl.loads(f"network t\ninput [4]\nscale({bad})\n")
        assert err.value.diagnostics[0].code == "E0206"
