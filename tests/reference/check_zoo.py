"""Compare the zoo's specs with the real torchvision, builder by builder.

Run in a throwaway environment that has torchvision (see
make_zoo_reference.py), from the repository root:

    PYTHONPATH=. /tmp/tv/bin/python tests/reference/check_zoo.py            # every builder
    PYTHONPATH=. /tmp/tv/bin/python tests/reference/check_zoo.py resnet18   # some

For each builder: parameters, buffers and conv + linear MACs of
`zoo:NAME` against tests/reference/zoo.json (made from torchvision), then
the compiled module against torchvision's own: every state_dict entry of
torchvision's model filled by zoo_fill, loaded into the compiled module
with cnndsl.transfer_weights, float64 eval outputs compared at a small
input (max |difference| <= 1e-10 * max |output|). Prints a line per
builder and exits 1 if any differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_zoo_reference import FINGERPRINT_INPUT, build  # noqa: E402
from survey import survey  # noqa: E402
from zoo_fill import example_input, filled_state_dict  # noqa: E402

import cnndsl  # noqa: E402
from cnndsl.zoo import ZOO, load_zoo  # noqa: E402

TOLERANCE = 1e-10
BIG = 2e9  # MACs above which the output check is skipped here (static numbers still checked)


def check(name: str, reference: dict) -> list[str]:
    problems = []
    net = load_zoo(name)
    macs, buffers = net.graph.graph["macs"], net.graph.graph["buffers"]
    for what, ours, theirs in (("params", net.params, reference["params"]),
                               ("buffers", buffers, reference["buffers"]),
                               ("MACs", macs, reference["macs"])):
        if ours != theirs:
            problems.append(f"{what} {ours:,} != torchvision {theirs:,}")
    if problems or reference["macs"] > BIG:
        return problems
    shape = FINGERPRINT_INPUT.get(name, (3, 64, 64))
    theirs = build(name).double()
    own = theirs.state_dict()
    state = filled_state_dict([(k, tuple(v.shape)) for k, v in own.items()])
    state._metadata = own._metadata  # MNASNet checks its state_dict version
    theirs.load_state_dict(state)
    ours = load_zoo(name, input_shape=shape).to_module().double().eval()
    cnndsl.transfer_weights(state, ours)
    x = example_input(shape)
    with torch.no_grad():
        want, got = theirs(x), ours(x)
    error = (want - got).abs().max().item() / want.abs().max().item()
    if error > TOLERANCE:
        problems.append(f"outputs differ: relative max error {error:.3g}")
    return problems


def main(names: list[str]) -> int:
    reference = json.loads((HERE / "zoo.json").read_text())["models"]
    # zoo.json's builders; the segmentation ones and the feature pyramid are check_dense.py's
    return survey(names or sorted(set(ZOO) & set(reference)),
                  lambda name: check(name, reference[name]), 24)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
