"""Parameters, MACs and FLOPs: every op has a rule, and the totals match torchvision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cnndsl
from cnndsl.ops import GLOBAL, INPUT, REGISTRY, Op, ShapeError, Window
from cnndsl.ops.base import REQUIRED, Choice, Int, Padding, Pair
from cnndsl.ops.geometry import IndexMap

# torchvision's published numbers, vendored (tests/reference/README.md)
ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "reference" / "torchvision.json"
TORCHVISION = json.loads(REFERENCE.read_text())["models"]

# torchvision model -> the spec that describes it exactly
SPECS = {
    "alexnet": "specs/zoo/alexnet.cnn",
    "vgg11": "specs/vgg.cnn",
    "vgg16": "specs/vgg16.cnn",
    "googlenet": "specs/zoo/googlenet.cnn",
    "resnet18": "specs/resnet18.cnn",
    "resnet50": "specs/resnet50.cnn",
}
ZOO_VGG16 = "specs/zoo/vgg16.cnn"


@pytest.fixture(autouse=True)
def _at_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # spec paths below are relative to it

# fvcore's operator names for the torch modules whose counting convention
# cnndsl follows (one multiply-add is one; batch norm at inference is one per
# element plus one for the affine; adaptive pooling one per input element).
FVCORE_NAME = {"Conv2d": "conv", "Linear": "linear", "BatchNorm2d": "batch_norm",
               "AdaptiveAvgPool2d": "adaptive_avg_pool2d"}


def _by_fvcore_operator(net) -> dict:
    """Per fvcore operator name: MACs of conv/linear, FLOPs of the rest."""
    g, out = net.graph, {}
    for node in net.layers():
        d = g.nodes[node]
        ctor = d["op"].torch(d["args"], [g.nodes[i]["shape"] for i in d["inputs"]], d["shape"])
        name = FVCORE_NAME.get(ctor.cls) if ctor else None
        if name:
            out[name] = out.get(name, 0) + (d["macs"] if name in ("conv", "linear") else d["flops"])
    return out


@pytest.mark.parametrize("model", sorted(SPECS))
def test_macs_equal_fvcore_for_conv_and_linear(model):
    ours = _by_fvcore_operator(cnndsl.load(SPECS[model]))
    ref = TORCHVISION[model]["fvcore_by_operator"]
    assert ours["conv"] == ref["conv"]
    assert ours["linear"] == ref["linear"]


@pytest.mark.parametrize("model", sorted(SPECS) + ["zoo_vgg16"])
def test_other_flops_equal_fvcore_where_the_convention_matches(model):
    path = ZOO_VGG16 if model == "zoo_vgg16" else SPECS[model]
    ref = TORCHVISION["vgg16" if model == "zoo_vgg16" else model]["fvcore_by_operator"]
    ours = _by_fvcore_operator(cnndsl.load(path))
    compared = [op for op in ("batch_norm", "adaptive_avg_pool2d") if op in ours]
    for op in compared:
        assert ours[op] == ref[op], op
    if model in ("googlenet", "resnet18", "resnet50"):
        assert compared == ["batch_norm", "adaptive_avg_pool2d"]


@pytest.mark.parametrize("model", sorted(SPECS))
def test_params_split_trainable_and_buffers(model):
    net = cnndsl.load(SPECS[model])
    assert net.graph.graph["params"] == TORCHVISION[model]["params"]
    assert net.graph.graph["buffers"] == TORCHVISION[model]["buffers"]


def test_json_totals_are_the_sums_of_layers_and_macs_stay_apart_from_flops():
    doc = cnndsl.load("specs/resnet18.cnn").to_json()
    for key in ("params", "buffers", "macs", "flops"):
        assert doc[key] == sum(layer[key] for layer in doc["layers"]), key
    by_op = {}
    for layer in doc["layers"]:
        by_op.setdefault(layer["op"], []).append(layer)
    assert all(layer["macs"] == 0 and layer["flops"] > 0
               for op in ("relu", "batchnorm", "maxpool", "add") for layer in by_op[op])
    assert all(layer["macs"] > 0 for layer in by_op["conv"] + by_op["linear"])


# ------------------------------------------------ every op answers every question


# Ops whose arguments are all optional but one of them must be given.
ONE_OF = {"upsample": [2], "crop": [1]}


def _example_args(op: Op) -> dict:
    if op.name in ONE_OF:
        return op.bind(ONE_OF[op.name], {})
    positional = []
    for a in op.args:
        if a.default is not REQUIRED:
            break
        number = 2 if not positional else 1  # chunk(2, 1): a second int is an index
        positional.append(number if isinstance(a.type, (Int, Pair, Padding)) else
                          a.type.options[0] if isinstance(a.type, Choice) else 1.0)
    return op.bind(positional, {})


def _example_inputs(op: Op, args: dict):
    """A spatial input if the op takes one, else a flat one; two for merges."""
    for shape in ((4, 8, 8), (16,)):
        ins = [shape, shape] if op.many_inputs else [shape]
        try:
            return ins, op.shape(args, ins)
        except ShapeError:
            continue
    raise AssertionError(f"no example input fits `{op.name}`")


# Ops whose FLOPs are truly zero, said here so a new op cannot be zero by accident.
ZERO_FLOPS = {"flatten", "concat", "identity", "input", "pad", "channel_shuffle", "chunk", "crop"}


@pytest.mark.parametrize("op", [*REGISTRY.values(), INPUT], ids=lambda op: op.name)
def test_every_op_declares_its_cost_window_and_memory_rules(op):
    for rule in ("flops", "shape"):
        assert getattr(type(op), rule) is not getattr(Op, rule), f"`{op.name}` lacks {rule}()"
    # a sliding window, or (upsampling, transposed conv, crop) its own index map and resize
    windowed = type(op).index_map is Op.index_map
    assert type(op).window is not Op.window if windowed else type(op).resize is not Op.resize, \
        f"`{op.name}` lacks window() (or index_map() and resize())"
    assert op.saved is not None, f"`{op.name}` does not declare what backward keeps"
    if op is INPUT:
        return
    args = _example_args(op)
    ins, out = _example_inputs(op, args)
    flops, macs = op.flops(args, ins, out), op.macs(args, ins, out)
    trainable, buffers = op.params(args, ins, out)
    assert all(isinstance(v, int) and v >= 0 for v in (flops, macs, trainable, buffers))
    assert (flops == 0) == (op.name in ZERO_FLOPS) or macs > 0, f"`{op.name}` has 0 FLOPs"
    if windowed:
        window = op.window(args)
        assert window == GLOBAL or isinstance(window, Window)
    maps = op.index_map(args, ins, out)
    assert maps == GLOBAL or len(maps) == 2 and all(isinstance(m, IndexMap) for m in maps)
