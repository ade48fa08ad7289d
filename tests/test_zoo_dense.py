"""The zoo's networks with several outputs equal torchvision's, by recorded numbers.

tests/reference/zoo_dense.json holds what torchvision 0.29 says of the
segmentation builders (FCN, DeepLabV3, LR-ASPP, with and without
``aux_loss``), GoogLeNet and Inception v3 with ``aux_logits=True`` and
ResNet-50's feature pyramid (``resnet_fpn_backbone``), made by
tests/reference/make_dense_reference.py (CI has no torchvision). Each entry's
key is the builder and its keyword arguments, which ``load_zoo`` takes as
they are. Every entry: parameters, buffer elements, conv + linear MACs of
the layers that run at inference (fvcore in eval mode) and, with
auxiliary classifiers, of every layer (fvcore in training mode), and the
names and shapes of the outputs, the geometry of every conv. The smallest of each family: outputs
after loading torchvision's deterministically filled weights with
cnndsl.transfer_weights, float64, against the recorded fingerprints (shape,
per-channel sums, every stride-th value), and the returned structure (an
OrderedDict's keys, a namedtuple's fields) as torchvision's.
"""

from __future__ import annotations

import functools
import importlib.util
import json

import pytest

from conftest import REFERENCE
from cnndsl.outputs import DICT, TRAINING_TUPLE, returns, training_only
from cnndsl.zoo import ZOO, load_zoo

DENSE = json.loads((REFERENCE / "zoo_dense.json").read_text())
MODELS, FINGERPRINTS = DENSE["models"], DENSE["fingerprints"]
CLASSIFICATION = json.loads((REFERENCE / "zoo.json").read_text())["models"]
TOLERANCE = 1e-10  # of the largest value compared, in float64


def _zoo_fill():
    """tests/reference/zoo_fill.py, the weights torchvision was filled with (imports torch)."""
    spec = importlib.util.spec_from_file_location("zoo_fill", REFERENCE / "zoo_fill.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(key: str, **options):
    entry = MODELS[key]
    return load_zoo(entry["builder"], **entry["kwargs"], **options)


@functools.lru_cache(maxsize=None)
def _default(key: str):
    """The entry's network at its default input (two tests read it)."""
    return _load(key)


def _eval_returns(net) -> list:
    """[name, shape] of what the module returns in eval mode; a bare tensor is named ''."""
    g = net.graph
    outs = [[name, list(g.nodes[node]["shape"])] for name, node, training in g.graph["outputs"]
            if not training]
    if returns(g) == DICT:
        return outs
    return [["", list(net.output_shape)]]  # one tensor (GoogLeNet's logits in eval mode)


@pytest.mark.parametrize("key", sorted(MODELS))
def test_params_buffers_and_macs_equal_torchvision(key):
    want = MODELS[key]
    net = _default(key)
    g = net.graph
    assert net.input_shape == tuple(want["input"])
    assert (net.params, g.graph["buffers"]) == (want["params"], want["buffers"])
    skipped = training_only(g)  # auxiliary classifiers: they do not run at inference
    assert sum(g.nodes[v]["macs"] for v in g.nodes if v not in skipped) == want["macs"]
    assert g.graph["macs"] == want.get("training_macs", want["macs"])


@pytest.mark.parametrize("key", sorted(MODELS))
def test_outputs_are_named_and_shaped_as_torchvisions(key):
    want = MODELS[key]
    net = _default(key)
    assert _eval_returns(net) == want["outputs"]
    if "training_outputs" in want:
        assert returns(net.graph) == TRAINING_TUPLE
        assert [[name, list(shape)] for name, shape in net.outputs.items()] == \
            want["training_outputs"]
    else:
        assert all(not training for _, _, training in net.graph.graph["outputs"])


@pytest.mark.parametrize("key", sorted(MODELS))
def test_every_conv_has_torchvisions_geometry_in_its_order(key):
    # kernel, stride, padding, dilation, groups of each conv, in torchvision's registration
    # order: DeepLab's atrous rates, the dilated stages, the pyramid's lateral and output convs
    g = _default(key).graph
    convs = [[*a["kernel"], *a["stride"], *a["padding"], *a["dilation"], a["groups"]]
             for a in (g.nodes[v]["args"] for v in g.nodes if g.nodes[v]["op"].name == "conv")]
    assert convs == MODELS[key]["convs"]


def test_every_builder_has_torchvision_numbers():
    dense = {entry["builder"] for entry in MODELS.values()}
    assert dense <= set(ZOO)
    missing = sorted(set(ZOO) - dense - set(CLASSIFICATION))
    assert not missing, f"zoo builders without torchvision numbers: {', '.join(missing)}"


def test_the_auxiliary_heads_are_off_by_default_as_the_inference_network():
    for name in ("googlenet", "inception_v3", "fcn_resnet50", "deeplabv3_mobilenet_v3_large"):
        assert "aux" not in " ".join(load_zoo(name).outputs), name
    assert load_zoo("googlenet").params == CLASSIFICATION["googlenet"]["params"]


def _compare(got, want: dict) -> None:
    """One output against its fingerprint (make_dense_reference.summary)."""
    import torch
    y = got[0]
    assert list(y.shape) == want["shape"]
    sample = torch.tensor(want["sample"], dtype=torch.float64)
    values = y.flatten()[::want["stride"]]
    scale = sample.abs().max().item()
    assert values.shape == sample.shape
    assert (values - sample).abs().max().item() <= TOLERANCE * scale
    if want["channel_sums"]:  # every value counts: a sum of n values errs n times as much
        sums = torch.tensor(want["channel_sums"], dtype=torch.float64)
        got_sums = y.sum(dim=tuple(range(1, y.dim())))
        assert (got_sums - sums).abs().max().item() <= TOLERANCE * scale * y[0].numel()


def _returned(y) -> list:
    """[(name, tensor)] of a result: a tensor, an OrderedDict or a namedtuple."""
    import torch
    if isinstance(y, torch.Tensor):
        return [("", y)]
    if isinstance(y, dict):
        return list(y.items())
    return list(zip(y._fields, y))


@pytest.mark.parametrize("key", sorted(FINGERPRINTS))
def test_outputs_equal_torchvision_with_the_same_weights(key):
    import torch

    import cnndsl

    fill = _zoo_fill()
    fingerprint = FINGERPRINTS[key]
    shape = tuple(fingerprint["input"])
    module = _load(key, input_shape=shape).to_module().double().eval()
    cnndsl.transfer_weights(fill.filled_state_dict(fingerprint["entries"]), module)
    x = fill.example_input(shape)
    for mode in ("eval", "training"):
        if mode not in fingerprint:
            continue
        # training mode as the reference recorded it: the top module's flag alone, which
        # switches the auxiliary classifiers on while dropout and batch norm stay as in eval
        module.eval()
        module.training = mode == "training"
        with torch.no_grad():
            got = module(x)
        if mode == "training":
            assert isinstance(got, tuple) and hasattr(got, "_fields"), "a namedtuple"
        else:
            assert isinstance(got, torch.Tensor if fingerprint[mode][0][0] == "" else dict)
        outs = _returned(got)
        assert [name for name, _ in outs] == [name for name, _ in fingerprint[mode]]
        for (_, y), (_, want) in zip(outs, fingerprint[mode]):
            _compare(y, want)


def test_a_frozen_batch_norm_holds_four_buffers_and_normalizes_with_them():
    # torchvision's FrozenBatchNorm2d (resnet_fpn_backbone's norm): no parameters, and
    # weight, bias, running mean and variance as buffers in that order
    import torch

    import cnndsl
    net = cnndsl.loads("network t\ninput [3, 5, 4]\nbn(frozen=true, eps=0.01)")
    assert (net.params, net.graph.graph["buffers"]) == (0, 12)
    module = net.to_module().double()
    assert [name.rsplit(".", 1)[-1] for name, _ in module.named_buffers()] == \
        ["weight", "bias", "running_mean", "running_var"]
    assert not list(module.parameters())
    values = [torch.tensor(v, dtype=torch.float64) for v in
              ([1.5, -2.0, 0.5], [0.1, 0.2, -0.3], [0.4, -1.0, 2.0], [0.5, 2.0, 1.0])]
    for buffer, value in zip(module.buffers(), values):
        buffer.copy_(value)
    x = torch.linspace(-3, 3, 60, dtype=torch.float64).reshape(1, 3, 5, 4)
    weight, bias, mean, var = values
    want = torch.nn.functional.batch_norm(x, mean, var, weight, bias, training=False, eps=0.01)
    module.train()  # frozen: training mode changes nothing
    assert torch.allclose(module(x), want, rtol=0, atol=1e-12)
    assert all(torch.equal(b, v) for b, v in zip(module.buffers(), values))


def test_a_frozen_batch_norm_without_its_affine_is_refused():
    import cnndsl
    with pytest.raises(cnndsl.CnnError, match="E0206") as err:
        cnndsl.loads("network t\ninput [3, 5, 4]\nbn(frozen=true, affine=false)")
    assert "frozen batch norm always has its affine" in str(err.value)
