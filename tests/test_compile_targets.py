"""The compiled module works where torch modules go: TorchScript, torch.export,
torch.compile, ONNX, other devices and dtypes, channels_last, and
DistributedDataParallel (one process, gloo).

torch.compile is tested with the `aot_eager` backend (Dynamo capture and
AOTAutograd, forward and backward) on GoogLeNet, and with the default
inductor backend on LeNet only: inductor compiles C++, which takes ~25 s
for LeNet on a 2-core machine with a cold cache (~9 s warm).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
import torch

import cnndsl
from cnndsl.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _net(name="googlenet.cnn", **kw):
    return cnndsl.load(ROOT / "specs" / name, **kw)


@pytest.fixture(scope="module")
def googlenet():
    """The chapter's GoogLeNet on 1x96x96 Fashion-MNIST, as the book trains it."""
    net = _net(in_channels=1, classes=10, input_shape=(1, 96, 96))
    torch.manual_seed(0)
    return net, net.to_module().eval(), torch.randn(2, 1, 96, 96)


def test_torch_jit_script(googlenet):
    net, model, x = googlenet
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.*deprecated")
        scripted = torch.jit.script(model)
    with torch.no_grad():
        assert torch.equal(scripted(x), model(x))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.load is deprecated
def test_torchscript_export_from_the_cli(tmp_path):
    out = tmp_path / "m.pt"
    spec = ROOT / "specs" / "resnet18.cnn"
    assert main(["compile", str(spec), "--input", "3x32x32", "--torchscript", str(out)]) == 0
    loaded = torch.jit.load(str(out)).eval()
    model = cnndsl.load(spec, input_shape=(3, 32, 32)).to_module().eval()
    model.load_state_dict(loaded.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=1e-5, atol=1e-6)


def test_torch_export(googlenet):
    net, model, x = googlenet
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), model(x), rtol=1e-5, atol=1e-6)
    # The exported graph keeps the spec's names in its parameter keys.
    assert "b3.inception_1.path_2.conv_1.weight" in exported.state_dict


def test_torch_compile_aot_eager_forward_and_backward(googlenet):
    net, model, x = googlenet
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    model.train()
    try:
        y_compiled, y_eager = compiled(x), model(x)
        torch.testing.assert_close(y_compiled, y_eager, rtol=1e-5, atol=1e-6)
        (g_c,) = torch.autograd.grad(y_compiled.sum(), model.b1.conv_1.weight)
        (g_e,) = torch.autograd.grad(y_eager.sum(), model.b1.conv_1.weight)
        torch.testing.assert_close(g_c, g_e, rtol=1e-4, atol=1e-5)
    finally:
        model.eval()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own jit.script_method use
def test_torch_compile_inductor():
    net = _net("lenet.cnn")
    model = net.to_module().eval()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-6)


def test_onnx_export_from_the_cli(tmp_path):
    import onnx  # in the test extra, with onnxscript, which torch.onnx.export needs
    from onnx.reference import ReferenceEvaluator

    out = tmp_path / "lenet.onnx"
    spec = ROOT / "specs" / "lenet.cnn"
    assert main(["compile", str(spec), "--onnx", str(out)]) == 0
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    net = cnndsl.load(spec)
    model = net.to_module().eval()
    # The exporter runs a module built from the same spec: load its weights
    # back from the file to compare numbers, not just structure.
    weights = {i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy())
               for i in proto.graph.initializer}
    state = model.state_dict()
    assert set(state) <= set(weights)
    model.load_state_dict({k: weights[k] for k in state})
    x = torch.randn(5, 1, 28, 28)  # not the export's batch size: the batch axis is dynamic
    (y,) = ReferenceEvaluator(proto).run(None, {"x": x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(y), model(x), rtol=1e-4, atol=1e-5)


def test_to_device_and_dtype(googlenet):
    net, model, x = googlenet
    meta = _net(in_channels=1, classes=10, input_shape=(1, 96, 96)).to_module().to("meta")
    assert all(p.device.type == "meta" for p in meta.parameters())
    assert meta(x.to("meta")).shape == (2, 10)  # shapes propagate without memory
    double = _net("resnet18.cnn", input_shape=(3, 32, 32)).to_module().to(torch.float64).eval()
    assert double(torch.randn(1, 3, 32, 32, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU on this machine")
def test_cuda_matches_cpu():
    net = _net("resnet18.cnn", input_shape=(3, 64, 64))
    model = net.to_module().eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        y = model.to("cuda")(x.to("cuda"))
    assert y.device.type == "cuda"
    torch.testing.assert_close(y.cpu(), expected, rtol=1e-3, atol=1e-3)  # TF32 convolutions


def test_channels_last():
    model = _net("resnet18.cnn", input_shape=(3, 64, 64)).to_module().eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        y = model(x.to(memory_format=torch.channels_last))
    assert model.stem.conv_1.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-5)


def test_distributed_data_parallel_one_process_gloo(tmp_path):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    net = _net("resnet18.cnn", input_shape=(3, 32, 32), classes=4)
    torch.manual_seed(0)
    model = net.to_module()
    reference = net.to_module()
    reference.load_state_dict(model.state_dict())
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}",
                            rank=0, world_size=1)
    try:
        ddp = DistributedDataParallel(model)
        x, target = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
        torch.nn.functional.cross_entropy(ddp(x), target).backward()
        torch.nn.functional.cross_entropy(reference(x), target).backward()
        for (name, p), q in zip(model.named_parameters(), reference.parameters()):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6, msg=name)
    finally:
        dist.destroy_process_group()
