"""Compiled specs equal the hand-written reference models, number for number.

Weights go from each reference (tests/reference_models.py, written from
the book's and torchvision's code, not from cnndsl) into the compiled
module with :func:`cnndsl.transfer_weights`; then, in float64, eval-mode
outputs must agree within 1e-10, and so must train-mode gradients (and
batch-norm running statistics) with dropout disabled: `--set dropout=0`
where the spec has that parameter, dropout layers in eval mode otherwise.

Inputs are as small as each architecture allows (GoogLeNet at 96x96 as the
book trains it) to keep the suite fast on two cores. The VGGs' 100M-weight
classifiers make their backward passes slow in float64, so VGG-11's
gradients are checked on the book's own training configuration (channels
divided by 4, Fashion-MNIST's one channel, 10 classes) and torchvision's
VGG-16 only in eval mode.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import cnndsl
import reference_models as ref

ROOT = Path(__file__).resolve().parent.parent
TOL = dict(rtol=1e-10, atol=1e-10)
# CNNDSL_TEST_DEVICE=cuda runs the same comparisons on a GPU.
DEVICE = torch.device(os.environ.get("CNNDSL_TEST_DEVICE", "cpu"))

# name: (reference builder, spec, spec settings, input shape for the test)
CASES = {
    "lenet": (ref.lenet, "lenet.cnn", {}, (1, 28, 28)),
    "lenet_staged": (ref.lenet_staged, "lenet.cnn", {}, (1, 28, 28)),  # the spec's structure
    "alexnet": (ref.alexnet, "alexnet.cnn", {}, (3, 224, 224)),  # flatten fixes the size
    "vgg11": (ref.vgg11, "vgg.cnn", {}, (3, 224, 224)),  # flatten fixes the size
    "nin": (ref.nin, "nin.cnn", {}, (3, 96, 96)),
    "googlenet": (lambda: ref.googlenet(in_channels=1, classes=10), "googlenet.cnn",
                  {"in_channels": 1, "classes": 10}, (1, 96, 96)),
    "resnet18": (ref.resnet18, "resnet18.cnn", {}, (3, 64, 64)),
    "resnet50": (ref.resnet50, "resnet50.cnn", {}, (3, 32, 32)),
    "zoo_alexnet": (ref.zoo_alexnet, "zoo/alexnet.cnn", {"dropout": 0.0}, (3, 160, 160)),
    "zoo_vgg16": (ref.zoo_vgg16, "zoo/vgg16.cnn", {"dropout": 0.0}, (3, 32, 32)),
    "zoo_googlenet": (ref.zoo_googlenet, "zoo/googlenet.cnn", {"dropout": 0.0}, (3, 96, 96)),
}
SMALL_VGG = tuple((n, c // 4) for n, c in ref.VGG11_ARCH)  # d2l ch. 8.2 trains this one
CASES["vgg11_small"] = (lambda: ref.vgg(SMALL_VGG, in_channels=1, classes=10), "vgg.cnn",
                        {"conv_arch": SMALL_VGG, "in_channels": 1, "classes": 10}, (1, 224, 224))
TRAIN_CASES = [name for name in CASES if name not in ("vgg11", "zoo_vgg16")]


def _pair(name):
    build, spec, settings, shape = CASES[name]
    torch.manual_seed(0)
    reference = build().to(DEVICE, torch.float64)
    net = cnndsl.load(ROOT / "specs" / spec, input_shape=shape, **settings)
    compiled = net.to_module().to(DEVICE, torch.float64)
    cnndsl.transfer_weights(reference, compiled)
    # Batch-norm statistics away from their (0, 1) start, so eval mode means something.
    with torch.no_grad():
        for (_, a), (_, b) in zip(reference.named_buffers(), compiled.named_buffers()):
            if a.is_floating_point():
                a.uniform_(0.5, 1.5)
                b.copy_(a)
    return reference, compiled, shape, settings


def _dropout_off(module, settings):
    for m in module.modules():
        if isinstance(m, torch.nn.Dropout):
            if "dropout" in settings:
                m.p = settings["dropout"]  # the reference's own p, set as the spec's
            else:
                m.eval()


@pytest.mark.parametrize("name", CASES)
def test_eval_outputs_equal_the_reference(name):
    reference, compiled, shape, _ = _pair(name)
    reference.eval(), compiled.eval()
    x = torch.randn(1, *shape, dtype=torch.float64, device=DEVICE)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), reference(x), **TOL)


@pytest.mark.parametrize("name", TRAIN_CASES)
def test_train_gradients_equal_the_reference(name):
    reference, compiled, shape, settings = _pair(name)
    for m in (reference, compiled):
        m.train()
        _dropout_off(m, settings)
    x = torch.randn(2, *shape, dtype=torch.float64, device=DEVICE)
    y_ref, y = reference(x), compiled(x)
    torch.testing.assert_close(y, y_ref, **TOL)
    weights = torch.randn_like(y)
    (y_ref * weights).sum().backward()
    (y * weights).sum().backward()
    pairs = list(zip(reference.named_parameters(), compiled.named_parameters()))
    assert len(pairs) == len(list(compiled.parameters()))
    for (ref_name, a), (name_, b) in pairs:
        torch.testing.assert_close(b.grad, a.grad, **TOL, msg=f"{name_} vs {ref_name}")
    for (_, a), (_, b) in zip(reference.named_buffers(), compiled.named_buffers()):
        torch.testing.assert_close(b, a, **TOL)


def test_staged_lenet_is_the_compiled_lenet_written_by_hand():
    """ref.lenet_staged is bench_compile.py's like-for-like baseline for the compiled
    LeNet: the same modules under the same names (so the same state_dict keys and
    shapes, in the same order), and with transferred weights the same outputs."""
    reference = ref.lenet_staged()
    compiled = cnndsl.load(ROOT / "specs" / "lenet.cnn").to_module().eval()
    shapes = [(k, tuple(v.shape)) for k, v in reference.state_dict().items()]
    assert [(k, tuple(v.shape)) for k, v in compiled.state_dict().items()] == shapes
    kinds = {name: type(m) for name, m in reference.named_modules() if name}
    for name, m in compiled.named_modules():
        if name:  # the stages are nn.Sequential subclasses; the layers torch's own
            assert isinstance(m, kinds.pop(name)), name
    assert not kinds
    cnndsl.transfer_weights(reference, compiled)
    for (k, a), b in zip(reference.state_dict().items(), compiled.state_dict().values()):
        assert torch.equal(a, b), k
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), reference(x), rtol=0, atol=0)


# ------------------------------------------------------------ transfer_weights


def test_transfer_names_the_first_mismatch_and_copies_nothing():
    reference = ref.lenet(classes=10)
    net = cnndsl.load(ROOT / "specs" / "lenet.cnn", classes=5)
    compiled = net.to_module()
    before = {k: v.clone() for k, v in compiled.state_dict().items()}
    with pytest.raises(cnndsl.transfer.TransferError) as err:
        cnndsl.transfer_weights(reference, compiled)
    message = str(err.value)
    assert message.startswith("entry 8: source parameter '11.weight' is 10x84 but destination "
                              "parameter 'classifier.linear_3.weight'")
    assert "(declared at " in message and "lenet.cnn:15:5)" in message
    assert "is 5x84; by structure, 2 source entries pair with nothing: '11.weight' 10x84, " \
           "'11.bias' 10; 2 destination entries pair with nothing: " \
           "'classifier.linear_3.weight' 5x84 (declared at " in message
    assert message.endswith("lenet.cnn:15:5), 'classifier.linear_3.bias' 5")
    assert all(torch.equal(before[k], v) for k, v in compiled.state_dict().items())


def test_transfer_reports_a_missing_layer():
    reference = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(),
                                    torch.nn.Linear(144, 2), torch.nn.Linear(2, 2))
    net = cnndsl.loads("network t\ninput [1, 8, 8]\nconv(4, k=3) flatten linear(2)")
    with pytest.raises(cnndsl.transfer.TransferError,
                       match="the source has 6 parameters and buffers, the destination 4; "
                             "the first without a partner is source parameter '3.weight'"):
        cnndsl.transfer_weights(reference, net.to_module())


def test_transfer_refuses_a_buffer_for_a_parameter():
    src = torch.nn.Sequential(torch.nn.BatchNorm2d(4, affine=False), torch.nn.BatchNorm2d(4))
    dst = cnndsl.loads("network t\ninput [4, 2, 2]\nbn bn(affine=false)").to_module()
    with pytest.raises(cnndsl.transfer.TransferError, match="is a buffer but destination"):
        cnndsl.transfer_weights(src, dst)


def test_transfer_accepts_a_state_dict():
    reference = ref.resnet18()
    compiled = cnndsl.load(ROOT / "specs" / "resnet18.cnn").to_module()
    cnndsl.transfer_weights(reference.state_dict(), compiled)  # as torch.load(...) returns
    assert torch.equal(compiled.layer4.basic_2.main.conv_2.weight,
                       reference.layer4[1].conv2.weight)
