"""Record torchvision's numbers for the zoo: tests/reference/zoo.json.

CI has no torchvision (its wheel needs a multi-GB CUDA build of torch
here), so the tests compare cnndsl against these recorded numbers. Rerun in
a throwaway virtual environment that has torchvision and fvcore:

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torchvision==0.29.1 fvcore
    /tmp/tv/bin/python tests/reference/make_zoo_reference.py            # all builders
    /tmp/tv/bin/python tests/reference/make_zoo_reference.py resnet18   # some

For every classification CNN builder: parameters and buffer elements,
fvcore's conv and linear MACs at the default input (one multiply-add
counts once), and the whole fvcore table. For the smallest builder of each
family, an output fingerprint: torchvision's float64 eval output on
zoo_fill.example_input at a small input size, with every state_dict
entry filled by zoo_fill.fill in state_dict order; the entry names and
shapes are recorded so the tests can fill a dictionary the same way.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from survey import record  # noqa: E402
from zoo_fill import example_input, filled_state_dict  # noqa: E402

OUT = HERE / "zoo.json"
NOT_CNNS = ("vit_", "swin_", "maxvit_")
# Builders whose defaults add training-only heads; the zoo describes the
# network used at inference (torchvision drops the aux heads in eval too).
KWARGS = {"googlenet": {"aux_logits": False, "init_weights": False},
          "inception_v3": {"aux_logits": False, "init_weights": False}}
INPUT = {"inception_v3": (3, 299, 299)}
# Fingerprints: the smallest builder of each family, at a small input.
FINGERPRINT_INPUT = {"inception_v3": (3, 79, 79)}
FINGERPRINTED = ["alexnet", "vgg11", "vgg11_bn", "resnet18", "resnext50_32x4d",
                 "wide_resnet50_2", "squeezenet1_0", "squeezenet1_1", "densenet121",
                 "googlenet", "inception_v3", "mobilenet_v2", "mobilenet_v3_small",
                 "mobilenet_v3_large", "mnasnet0_5", "shufflenet_v2_x0_5", "efficientnet_b0",
                 "efficientnet_v2_s", "regnet_x_400mf", "regnet_y_400mf", "convnext_tiny"]


def builders() -> list[str]:
    import torchvision.models as m
    return sorted(n for n in m.list_models(module=m) if not n.startswith(NOT_CNNS))


def build(name: str):
    import torchvision.models as m
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m.get_model(name, weights=None, **KWARGS.get(name, {})).eval()


def static_numbers(name: str) -> dict:
    from fvcore.nn import FlopCountAnalysis
    model = build(name)
    shape = INPUT.get(name, (3, 224, 224))
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    with torch.no_grad():
        analysis = FlopCountAnalysis(model, torch.zeros(1, *shape))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        table = dict(sorted(analysis.by_operator().items()))
        output = list(model(torch.zeros(1, *shape)).shape)
    macs = sum(v for k, v in table.items() if k in ("conv", "linear", "addmm", "matmul"))
    return {"input": list(shape), "kwargs": KWARGS.get(name, {}), "params": params,
            "buffers": buffers, "macs": macs, "fvcore_by_operator": table, "output": output}


def fingerprint(name: str) -> dict:
    model = build(name).double()
    state = model.state_dict()
    entries = [[k, list(v.shape)] for k, v in state.items()]
    filled = filled_state_dict(entries)
    filled._metadata = state._metadata  # MNASNet checks its state_dict version
    model.load_state_dict(filled)
    shape = FINGERPRINT_INPUT.get(name, (3, 64, 64))
    with torch.no_grad():
        y = model(example_input(shape))
    assert torch.isfinite(y).all() and y.abs().max() > 0, name
    return {"input": list(shape), "entries": entries,
            "output": [float(v) for v in y.flatten()]}


def main(names: list[str]) -> None:
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    import torchvision
    source = (f"torchvision {torchvision.__version__.split('+')[0]} with torch "
              f"{torch.__version__.split('+')[0]}, weights=None, eval mode; MACs: fvcore "
              f"FlopCountAnalysis conv + linear at batch 1 (one multiply-add counts once); "
              f"made by tests/reference/make_zoo_reference.py")
    record(OUT, source, names or builders(), static_numbers, fingerprint, FINGERPRINTED, 24)


if __name__ == "__main__":
    main(sys.argv[1:])
