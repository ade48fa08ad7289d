"""`--optimize inference` keeps a trained module's outputs.

Folding batch norm into the preceding convolution is exact algebra
(w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps)
+ beta), so in float64 the folded module must agree within 1e-10 and in
float32 within float rounding, for random running statistics.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import cnndsl
from cnndsl.backends.optimize import optimize
from cnndsl.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _trained(spec, shape, dtype):
    net = cnndsl.load(ROOT / "specs" / spec, input_shape=shape)
    torch.manual_seed(0)
    module = net.to_module().to(dtype)
    with torch.no_grad():  # as if trained: batch-norm state far from its initial values
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return net, module.eval()


@pytest.mark.parametrize("spec", ["resnet18.cnn", "resnet50.cnn", "zoo/googlenet.cnn"])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_folded_module_equals_the_original(spec, dtype, tol):
    net, module = _trained(spec, (3, 64, 64), dtype)
    fast = optimize(net.graph, module)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert fast.training is False and next(fast.parameters()).dtype == dtype
    x = torch.randn(2, 3, 64, 64, dtype=dtype)
    with torch.no_grad():
        expected = module(x)
        torch.testing.assert_close(fast(x), expected, rtol=tol, atol=tol)
    assert module.training is False  # the original is left as it was


def test_fold_leaves_convs_whose_output_is_read_twice():
    text = ("network t\ninput [2, 6, 6]\n"
            "conv(4, k=1) add { path { bn } path { conv(4, k=1) } }\n"
            "conv(4, k=1, bias=false) bn relu flatten relu\n")
    net = cnndsl.loads(text)
    module = net.to_module().eval()
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
    fast = optimize(net.graph, module)
    kinds = [type(m).__name__ for m in fast.modules()]
    assert kinds.count("BatchNorm2d") == 1  # the one whose conv also feeds another path
    relus = [m for m in fast.modules() if isinstance(m, torch.nn.ReLU)]
    assert [r.inplace for r in relus] == [True, False]  # never in place on a flatten view
    x = torch.randn(3, 2, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), module(x), rtol=1e-5, atol=1e-6)


def test_optimized_source_from_the_cli(tmp_path):
    out = tmp_path / "fast.py"
    spec = ROOT / "specs" / "resnet18.cnn"
    assert main(["compile", str(spec), "--optimize", "inference", "-o", str(out)]) == 0
    text = out.read_text()
    assert "BatchNorm" not in text and "nn.ReLU(inplace=True)" in text
    assert "conv_1=nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3),\n" in text
