"""`cnndsl import` over torchvision's classification builders, with the real torchvision.

Run in a throwaway environment that has torchvision, from the repository root:

    PYTHONPATH=. /tmp/tvenv/bin/python tests/reference/import_sweep.py             # every builder
    PYTHONPATH=. /tmp/tvenv/bin/python tests/reference/import_sweep.py resnet50    # some
    ... import_sweep.py --size 64 --out /tmp/imported   # input size; keep the specs

For each builder of the zoo (torchvision's classification CNNs, cnndsl.zoo),
built with random weights as tests/reference/make_zoo_reference.py builds it
(googlenet and inception_v3 without their training-only aux heads): cnndsl.from_module at 3xSxS (which already
refuses a spec that does not check, does not pair with the model's
state_dict under transfer_weights, or differs in output, float64 eval),
then, independently here: the spec checks; its parameters and buffers
equal the model's; its conv + linear MACs equal those of `zoo:NAME` at
the same input (whose MACs equal torchvision's, tests/test_zoo.py); and
after transfer_weights the outputs agree (float64, eval, 1e-10 relative).
Prints a Markdown table: builder, result, non-comment lines of the spec,
blocks, and the reason of a failure. Exits 1 if any builder fails.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_zoo_reference import build  # noqa: E402  (googlenet, inception_v3 without aux heads)

import cnndsl
from cnndsl.importer import ImportFailure, from_module
from cnndsl.zoo import ZOO

NOT_CLASSIFIERS = ("deeplabv3", "fcn_", "lraspp", "_fpn")
SIZE_FOR = {"inception_v3": 96}  # the smallest sizes these builders run at
TOLERANCE = 1e-10


def builders() -> list[str]:
    return [n for n in sorted(ZOO) if not any(t in n for t in NOT_CLASSIFIERS)]


def sweep_one(name: str, size: int, out: Path | None) -> tuple[str, int, int, str]:
    torch.manual_seed(0)
    model = build(name).eval()
    size = max(size, SIZE_FOR.get(name, 0))
    shape = (3, size, size)
    try:
        text = from_module(model, shape, name=name)
    except ImportFailure as e:
        return "refused", 0, 0, str(e).splitlines()[0]
    if out is not None:
        (out / f"{name}.cnn").write_text(text)
    lines = sum(1 for line in text.splitlines() if line.strip() and not
                line.strip().startswith("#"))
    blocks = sum(1 for line in text.splitlines() if line.startswith("block "))
    net = cnndsl.loads(text, f"{name}.cnn")
    problems = []
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    if net.params != params:
        problems.append(f"params {net.params} != {params}")
    zoo = cnndsl.load(f"zoo:{name}", input_shape=shape)
    if net.graph.graph["macs"] != zoo.graph.graph["macs"]:
        problems.append(f"MACs {net.graph.graph['macs']} != zoo's {zoo.graph.graph['macs']}")
    ours = net.to_module().double().eval()
    theirs = copy.deepcopy(model).double().eval()
    cnndsl.transfer_weights(theirs, ours)
    ours_buffers = sum(b.numel() for b in ours.buffers() if b.is_floating_point())
    if ours_buffers != buffers:
        problems.append(f"buffers {ours_buffers} != {buffers}")
    x = torch.randn((2, *shape), generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    with torch.no_grad():
        want, got = theirs(x), ours(x)
    diff = (got - want).abs().max().item()
    if diff > TOLERANCE * max(want.abs().max().item(), 1.0):
        problems.append(f"outputs differ by {diff:.3g}")
    return ("ok" if not problems else "WRONG"), lines, blocks, "; ".join(problems)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    print("| builder | result | lines | blocks | seconds | note |")
    print("|---|---|---|---|---|---|")
    bad = 0
    for name in args.names or builders():
        start = time.time()
        try:
            result, lines, blocks, note = sweep_one(name, args.size, args.out)
        except Exception as e:  # noqa: BLE001 - a crash is a result of the sweep too
            result, lines, blocks, note = "CRASH", 0, 0, f"{type(e).__name__}: {e}"
        bad += result != "ok"
        print(f"| {name} | {result} | {lines} | {blocks} | {time.time() - start:.0f} | "
              f"{note.replace('|', '/')} |", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
