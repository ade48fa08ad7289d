"""Compare the zoo's dense and multi-output specs with the real torchvision.

As check_zoo.py does for the classification builders, for every entry of
make_dense_reference.py (segmentation with and without ``aux_loss``,
GoogLeNet and Inception v3 with ``aux_logits``, ResNet-50's feature
pyramid). Run in a throwaway environment that has torchvision, from the
repository root:

    PYTHONPATH=. /tmp/tv/bin/python tests/reference/check_dense.py                # every entry
    PYTHONPATH=. /tmp/tv/bin/python tests/reference/check_dense.py fcn_resnet50   # some

For each entry: parameters, buffers and conv + linear MACs of the spec
against tests/reference/zoo_dense.json (MACs at inference: the layers that
run in eval mode; with auxiliary classifiers also every layer against
fvcore's count in training mode), the names and shapes of its outputs; then
the compiled module against torchvision's own model: every state_dict
entry of torchvision's filled by zoo_fill, loaded with
cnndsl.transfer_weights, every output compared in float64 at a small input
in eval mode (and, with auxiliary classifiers, with the top module in
training mode), max |difference| <= 1e-10 * max |output|; the returned
structure (dict keys, namedtuple fields) must be torchvision's. Prints a
line per entry and exits 1 if any differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_dense_reference import ENTRIES, FINGERPRINTED, build, outputs, training  # noqa: E402
from survey import survey  # noqa: E402
from zoo_fill import example_input, filled_state_dict  # noqa: E402

import cnndsl  # noqa: E402
from cnndsl.outputs import DICT, returns, training_only  # noqa: E402
from cnndsl.zoo import load_zoo  # noqa: E402

TOLERANCE = 1e-10
SMALL = {"googlenet": (3, 64, 64), "inception_v3": (3, 299, 299)}  # else 3x56x48


def static_problems(key: str, reference: dict) -> list[str]:
    name, kwargs = ENTRIES[key]
    net = load_zoo(name, **kwargs)
    g = net.graph
    skipped = training_only(g)
    eval_macs = sum(g.nodes[v]["macs"] for v in g.nodes if v not in skipped)
    checks = [("params", net.params, reference["params"]),
              ("buffers", g.graph["buffers"], reference["buffers"]),
              ("MACs", eval_macs, reference["macs"])]
    if "training_macs" in reference:
        checks.append(("MACs of training mode", g.graph["macs"], reference["training_macs"]))
    problems = [f"{what} {ours:,} != torchvision {theirs:,}" for what, ours, theirs in checks
                if ours != theirs]
    declared = [(n, list(g.nodes[v]["shape"])) for n, v, t in g.graph["outputs"] if not t]
    if len(declared) < 2 and returns(g) != DICT:  # the module returns the tensor itself
        declared = [("", list(net.output_shape))]
    if declared != [tuple(o) for o in reference["outputs"]]:
        problems.append(f"eval outputs {declared} != torchvision {reference['outputs']}")
    if "training_outputs" in reference:
        every = [(n, list(g.nodes[v]["shape"])) for n, v, _ in g.graph["outputs"]]
        if every != [tuple(o) for o in reference["training_outputs"]]:
            problems.append(f"training outputs {every} != torchvision "
                            f"{reference['training_outputs']}")
    return problems


def _structure(y) -> tuple:
    """What a caller sees: a tensor, a dict's keys or a namedtuple's fields."""
    if isinstance(y, torch.Tensor):
        return ("tensor",)
    if isinstance(y, dict):
        return ("dict", *y.keys())
    return ("namedtuple", *y._fields)


def output_problems(key: str) -> list[str]:
    name, kwargs = ENTRIES[key]
    shape = FINGERPRINTED.get(key, SMALL.get(name, (3, 56, 48)))
    theirs = build(key).double()
    own = theirs.state_dict()
    state = filled_state_dict([(k, tuple(v.shape)) for k, v in own.items()])
    theirs.load_state_dict(state)
    ours = load_zoo(name, input_shape=shape, **kwargs).to_module().double().eval()
    cnndsl.transfer_weights(state, ours)
    x = example_input(shape)
    problems = []
    modes = ["eval"] + (["training"] if kwargs.get("aux_logits") else [])
    for mode in modes:
        a, b = (training(theirs), training(ours)) if mode == "training" else \
            (theirs.eval(), ours.eval())
        with torch.no_grad():
            want, got = a(x), b(x)
        if _structure(want) != _structure(got):
            problems.append(f"{mode}: returns {_structure(got)}, torchvision {_structure(want)}")
            continue
        for (field, w), (_, o) in zip(outputs(want), outputs(got)):
            if w.shape != o.shape:
                problems.append(f"{mode} output {field or 'tensor'} is {tuple(o.shape)}, "
                                f"torchvision's {tuple(w.shape)}")
                continue
            error = (w - o).abs().max().item() / w.abs().max().item()
            if error > TOLERANCE:
                problems.append(f"{mode} output {field or 'tensor'} differs: relative max "
                                f"error {error:.3g}")
    return problems


def main(keys: list[str]) -> int:
    reference = json.loads((HERE / "zoo_dense.json").read_text())["models"]
    return survey(keys or ENTRIES, lambda key: static_problems(key, reference[key])
                  or output_problems(key), 44)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
