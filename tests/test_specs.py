"""Every spec in specs/ checks, and its numbers equal the references."""

import json

import networkx as nx
import pytest
from conftest import REFERENCE, SPECS

import cnndsl

ALL = sorted(SPECS.rglob("*.cnn"))
TORCHVISION = {**json.loads((REFERENCE / "zoo.json").read_text())["models"],
               **json.loads((REFERENCE / "torchvision.json").read_text())["models"]}

# spec -> (torchvision model, or None with the count worked out by hand)
EXPECTED = {
    "lenet.cnn": (None, 61_706, 0),       # 156+2416+48120+10164+850 (d2l's LeNet)
    "alexnet.cnn": (None, 50_844_008, 0),
    "vgg.cnn": ("vgg11", None, None),     # the chapter's VGG-11 equals torchvision's
    "vgg16.cnn": ("vgg16", None, None),
    "nin.cnn": (None, 7_439_608, 0),
    "googlenet.cnn": (None, 6_998_552, 0),
    "resnet18.cnn": ("resnet18", None, None),
    "resnet50.cnn": ("resnet50", None, None),
    "unet.cnn": (None, 31_030_658, 0),  # Ronneberger et al. (2015): 2x388x388 from 572
    "zoo/alexnet.cnn": ("alexnet", None, None),
    "zoo/vgg16.cnn": ("vgg16", None, None),
    "zoo/googlenet.cnn": ("googlenet", None, None),
    "zoo/resnet.cnn": ("resnet18", None, None),
    "zoo/vgg.cnn": ("vgg11", None, None),
    "zoo/densenet.cnn": ("densenet121", None, None),
    "zoo/squeezenet.cnn": ("squeezenet1_0", None, None),
    "zoo/inception_v3.cnn": ("inception_v3", None, None),
    "zoo/mnasnet.cnn": ("mnasnet1_0", None, None),
    "zoo/mobilenet_v2.cnn": ("mobilenet_v2", None, None),
    "zoo/mobilenet_v3.cnn": ("mobilenet_v3_small", None, None),
    "zoo/regnet.cnn": ("regnet_x_400mf", None, None),
    "zoo/shufflenet_v2.cnn": ("shufflenet_v2_x0_5", None, None),
    "zoo/efficientnet.cnn": ("efficientnet_b0", None, None),
    "zoo/convnext.cnn": ("convnext_tiny", None, None),
}


def test_every_spec_is_listed():
    assert sorted(str(p.relative_to(SPECS)) for p in ALL) == sorted(EXPECTED)


@pytest.mark.parametrize("spec", ALL, ids=lambda p: str(p.relative_to(SPECS)))
def test_spec_checks_with_reference_counts(spec):
    net = cnndsl.load(spec)
    model, params, buffers = EXPECTED[str(spec.relative_to(SPECS))]
    if model is not None:
        params, buffers = TORCHVISION[model]["params"], TORCHVISION[model]["buffers"]
        assert net.output_shape == tuple(TORCHVISION[model]["output"][1:])
    assert (net.params, net.graph.graph["buffers"]) == (params, buffers)


@pytest.mark.parametrize("spec", ALL, ids=lambda p: str(p.relative_to(SPECS)))
def test_spec_has_a_source_header(spec):
    first = spec.read_text().splitlines()[0]
    assert first.startswith("# ") and len(first) > 20


@pytest.mark.parametrize("spec", ALL, ids=lambda p: str(p.relative_to(SPECS)))
def test_graph_is_a_dag_in_spec_order(spec):
    g = cnndsl.load(spec).graph
    assert nx.is_directed_acyclic_graph(g)
    order = {v: i for i, v in enumerate(g.nodes)}
    assert all(order[u] < order[v] for u, v in g.edges)
    # Every layer feeds the output: nothing dangles.
    assert nx.ancestors(g, g.graph["output"]) | {g.graph["output"]} == set(g.nodes)


def test_googlenet_fashion_mnist_variant():
    # The chapter's setting: 1x96x96 inputs, 10 classes.
    net = cnndsl.load(SPECS / "googlenet.cnn", input_shape=(1, 96, 96), in_channels=1, classes=10)
    shapes = {v: net.graph.nodes[v]["shape"] for v in net.layers()}
    assert shapes["b1.maxpool_1"] == (64, 24, 24)
    assert shapes["b3.inception_1.concat_1"] == (256, 12, 12)
    assert shapes["b5.global_avgpool_1"] == (1024, 1, 1)
    assert net.output_shape == (10,)
    assert net.params == 5_977_530  # counted by hand in tests/test_reference_models.py


def test_googlenet_shapes_follow_the_chapter():
    net = cnndsl.load(SPECS / "googlenet.cnn")
    concat_shapes = [net.graph.nodes[v]["shape"] for v in net.layers() if v.endswith("concat_1")]
    assert [s[0] for s in concat_shapes] == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    assert [s[1] for s in concat_shapes] == [28, 28, 14, 14, 14, 14, 14, 7, 7]


def test_resnet_projection_shortcuts_are_chosen_by_the_block():
    g = cnndsl.load(SPECS / "resnet50.cnn").graph
    projections = sorted(v.rsplit(".", 2)[0] for v in g if ".shortcut.conv" in v)
    # First block of each stage: width changes (layer1) or stride 2 (others).
    assert projections == ["layer1.bottleneck_1", "layer2.bottleneck_1",
                           "layer3.bottleneck_1", "layer4.bottleneck_1"]
    g18 = cnndsl.load(SPECS / "resnet18.cnn").graph
    assert sorted(v.rsplit(".", 2)[0] for v in g18 if ".shortcut.conv" in v) == [
        "layer2.basic_1", "layer3.basic_1", "layer4.basic_1"]


def test_layer_names_are_unique_dotted_paths():
    net = cnndsl.load(SPECS / "googlenet.cnn")
    names = [layer["name"] for layer in net.to_json()["layers"]]
    assert len(names) == len(set(names))
    assert "b3.inception_1.path_2.conv_2" in names
