"""Every zoo builder equals torchvision's, by the numbers recorded from it.

tests/reference/zoo.json holds what torchvision 0.29 says of each builder
(made by tests/reference/make_zoo_reference.py; CI has no torchvision):
parameters, buffer elements and fvcore's conv + linear MACs at the default
input, and for the smallest builder of each family an output fingerprint,
torchvision's float64 eval output with every state_dict entry filled by
zoo_fill in state_dict order. Here each `zoo:NAME` must give the same
numbers, and the fingerprinted ones the same output once the same filled
weights are loaded with cnndsl.transfer_weights, as a user loads real ones.
"""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from conftest import REFERENCE
from cnndsl.zoo import ZOO, load_zoo, resolve, zoo_dir

ZOO_JSON = json.loads((REFERENCE / "zoo.json").read_text())
MODELS, FINGERPRINTS = ZOO_JSON["models"], ZOO_JSON["fingerprints"]
TOLERANCE = 1e-10  # of the largest output, in float64


def _zoo_fill():
    """tests/reference/zoo_fill.py, the weights torchvision was filled with (imports torch)."""
    spec = importlib.util.spec_from_file_location("zoo_fill", REFERENCE / "zoo_fill.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# the classification builders; the others (segmentation, feature pyramids) and the
# auxiliary heads are tests/test_zoo_dense.py's, which also checks that every builder
# has torchvision's numbers in one file or the other
@pytest.mark.parametrize("name", sorted(MODELS))
def test_params_buffers_and_macs_equal_torchvision(name):
    want = MODELS[name]
    net = load_zoo(name)
    assert net.input_shape == tuple(want["input"])
    assert (net.params, net.graph.graph["buffers"], net.graph.graph["macs"]) == \
        (want["params"], want["buffers"], want["macs"])
    assert net.output_shape == tuple(want["output"][1:])


@pytest.mark.parametrize("name", sorted(set(FINGERPRINTS) & set(ZOO)))
def test_outputs_equal_torchvision_with_the_same_weights(name):
    import torch

    import cnndsl

    fill = _zoo_fill()
    fingerprint = FINGERPRINTS[name]
    shape = tuple(fingerprint["input"])
    module = load_zoo(name, input_shape=shape).to_module().double().eval()
    cnndsl.transfer_weights(fill.filled_state_dict(fingerprint["entries"]), module)
    with torch.no_grad():
        got = module(fill.example_input(shape)).flatten()
    want = torch.tensor(fingerprint["output"], dtype=torch.float64)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= TOLERANCE * want.abs().max().item()


def test_every_torchvision_builder_is_in_the_zoo():
    missing = sorted(set(MODELS) - set(ZOO))
    assert not missing, f"torchvision builders without a zoo entry: {', '.join(missing)}"


def test_zoo_names_resolve_to_existing_family_specs():
    for name, (file, _) in ZOO.items():
        path, _ = resolve(f"zoo:{name}")
        assert path.is_file(), (name, file)


def test_a_family_spec_is_shared_and_its_parameters_make_the_variant():
    # the same file, different settings, different networks: nothing is hard-wired per builder
    assert resolve("resnet18")[0] == resolve("resnet152")[0]
    assert load_zoo("resnet18").params != load_zoo("resnet34").params


def _default_builder(file: str) -> str:
    """The builder a family spec's header says its defaults are, or its only builder."""
    comments = [line.lstrip("# ") for line in (zoo_dir() / file).read_text().splitlines()
                if line.startswith("#")]
    named = re.search(r"The defaults are (?:torchvision's )?(\w+)\.", " ".join(comments))
    if named:
        return named.group(1)
    builders = [name for name, (f, _) in ZOO.items() if f == file]
    assert len(builders) == 1, f"{file} serves {builders}: its header must name its defaults"
    return builders[0]


@pytest.mark.parametrize("file", sorted({file for file, _ in ZOO.values()}))
def test_a_family_spec_alone_is_the_builder_its_header_names(file):
    # `cnndsl check specs/zoo/regnet.cnn` without settings: regnet_x_400mf, as the header says
    import cnndsl
    name = _default_builder(file)
    assert ZOO[name][0] == file
    plain, builder = cnndsl.load(zoo_dir() / file), load_zoo(name)
    assert (plain.params, plain.graph.graph["buffers"], plain.graph.graph["macs"],
            plain.input_shape, plain.output_shape) == \
        (builder.params, builder.graph.graph["buffers"], builder.graph.graph["macs"],
         builder.input_shape, builder.output_shape)


def test_keywords_override_a_builders_parameters():
    assert load_zoo("resnet18", classes=10).output_shape == (10,)


def test_an_unknown_name_is_refused_with_a_suggestion():
    with pytest.raises(KeyError, match="no zoo network `resnet19`.*resnet18"):
        resolve("zoo:resnet19")
