"""Record torchvision's numbers for the zoo's dense and multi-output networks.

tests/reference/zoo_dense.json, as make_zoo_reference.py records zoo.json
(CI has no torchvision). Rerun in a throwaway environment with torchvision
0.29.1 and fvcore:

    /tmp/tv/bin/python tests/reference/make_dense_reference.py                 # every entry
    /tmp/tv/bin/python tests/reference/make_dense_reference.py fcn_resnet50    # some

Entries: the segmentation builders (FCN, DeepLabV3, LR-ASPP; with
``aux_loss=True`` as a second entry where torchvision takes it), GoogLeNet
and Inception v3 with their auxiliary classifiers (``aux_logits=True``),
and ResNet-50's feature pyramid as torchvision's ``resnet_fpn_backbone``
gives it (FrozenBatchNorm2d, LastLevelMaxPool). An entry's key is the
builder with its keyword arguments, ``fcn_resnet50(aux_loss=True)``; its
``kwargs`` are what ``cnndsl.zoo.load_zoo`` takes to make the same network.

Per entry: parameters and buffer elements, fvcore's conv + linear MACs at
the default input in eval mode (bilinear upsampling counts under fvcore's
own ``upsample_bilinear2d``, not here), the whole fvcore table, the
name and shape of every output in eval mode (and in training mode where
auxiliary classifiers add outputs there), and the geometry of every conv
in registration order: kernel, stride, padding and dilation (height,
width each) and groups. The fingerprints' small inputs cannot tell
DeepLab's atrous rates apart (its maps are smaller than the rates), the
geometry can. For the entries in FINGERPRINTED
an output fingerprint per output, at a small input with every state_dict
entry filled by zoo_fill: the output's shape, the sum over each channel and
every ``stride``-th value of the flattened output (every value of logits). Training mode is only
the top module's flag (``model.training = True`` on an eval model): that is
what makes GoogLeNet and Inception v3 return their auxiliary logits, while
dropout and batch norm stay deterministic.
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

OUT = HERE / "zoo_dense.json"
SAMPLES = 400  # values kept per output fingerprint (plus the channel sums)
SEGMENTATION = ("fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
                "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")
# key -> (zoo builder, keyword arguments: torchvision's and load_zoo's alike)
ENTRIES = {
    **{name: (name, {}) for name in SEGMENTATION},
    **{f"{name}(aux_loss=True)": (name, {"aux_loss": True}) for name in SEGMENTATION
       if not name.startswith("lraspp")},  # LR-ASPP has no auxiliary classifier
    "googlenet(aux_logits=True)": ("googlenet", {"aux_logits": True}),
    "inception_v3(aux_logits=True)": ("inception_v3", {"aux_logits": True}),
    "resnet50_fpn": ("resnet50_fpn", {}),
}
INPUT = {"inception_v3": (3, 299, 299)}
# the smallest of each family (each head on each backbone), at a small input; Inception
# v3's auxiliary classifier needs a 17x17 map after Mixed_6e, so 299x299
FINGERPRINTED = {"fcn_resnet50(aux_loss=True)": (3, 56, 48),
                 "deeplabv3_resnet50": (3, 56, 48),
                 "deeplabv3_mobilenet_v3_large(aux_loss=True)": (3, 56, 48),
                 "lraspp_mobilenet_v3_large": (3, 56, 48),
                 "resnet50_fpn": (3, 56, 48),
                 "googlenet(aux_logits=True)": (3, 64, 64),
                 "inception_v3(aux_logits=True)": (3, 299, 299)}


def build(key: str):
    """torchvision's model of entry ``key``, in eval mode, without pretrained weights."""
    import torchvision.models as m
    name, kwargs = ENTRIES[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "resnet50_fpn":
            from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
            model = resnet_fpn_backbone(backbone_name="resnet50", weights=None)
        elif name in SEGMENTATION:
            model = m.get_model(name, weights=None, weights_backbone=None, **kwargs)
        else:
            model = m.get_model(name, weights=None, init_weights=False, **kwargs)
    return model.eval()


def outputs(y) -> list:
    """[(name, tensor)] of a module's result: a tensor, an OrderedDict or a namedtuple."""
    if isinstance(y, torch.Tensor):
        return [("", y)]
    if isinstance(y, dict):
        return list(y.items())
    return list(zip(y._fields, y))


def training(model):
    """The model with only its top module in training mode (see the module docstring)."""
    model.eval()
    model.training = True
    return model


def _macs(model, shape) -> tuple[int, dict]:
    from fvcore.nn import FlopCountAnalysis
    with torch.no_grad():
        analysis = FlopCountAnalysis(model, torch.zeros(1, *shape))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        table = dict(sorted(analysis.by_operator().items()))
    return sum(v for k, v in table.items() if k in ("conv", "linear", "addmm", "matmul")), table


def static_numbers(key: str) -> dict:
    name, kwargs = ENTRIES[key]
    model = build(key)
    shape = INPUT.get(name, (3, 224, 224))
    macs, table = _macs(model, shape)
    with torch.no_grad():
        outs = outputs(model(torch.zeros(1, *shape)))
    doc = {"builder": name, "kwargs": kwargs, "input": list(shape),
           "params": sum(p.numel() for p in model.parameters()),
           "buffers": sum(b.numel() for b in model.buffers()),
           "macs": macs, "fvcore_by_operator": table,
           "outputs": [[k, list(v.shape[1:])] for k, v in outs],
           "convs": [[*m.kernel_size, *m.stride, *m.padding, *m.dilation, m.groups]
                     for m in model.modules() if isinstance(m, torch.nn.Conv2d)]}
    if kwargs.get("aux_logits"):
        with torch.no_grad():
            outs = outputs(training(model)(torch.zeros(1, *shape)))
        doc["training_outputs"] = [[k, list(v.shape[1:])] for k, v in outs]
        doc["training_macs"] = _macs(training(model), shape)[0]
    return doc


def summary(y: torch.Tensor) -> dict:
    """An output's fingerprint: shape, per-channel sums, every stride-th value."""
    y = y[0]
    if y.dim() == 1:  # logits: every value
        return {"shape": list(y.shape), "channel_sums": [], "stride": 1,
                "sample": [float(v) for v in y]}
    stride = max(1, y.numel() // SAMPLES)
    return {"shape": list(y.shape),
            "channel_sums": [float(v) for v in y.sum(dim=tuple(range(1, y.dim())))],
            "stride": stride, "sample": [float(v) for v in y.flatten()[::stride]]}


def fingerprint(key: str) -> dict:
    model = build(key).double()
    state = model.state_dict()
    entries = [[k, list(v.shape)] for k, v in state.items()]
    model.load_state_dict(filled_state_dict(entries))
    shape = FINGERPRINTED[key]
    x = example_input(shape)
    doc = {"input": list(shape), "entries": entries}
    modes = ["eval"] + (["training"] if ENTRIES[key][1].get("aux_logits") else [])
    for mode in modes:
        net = training(model) if mode == "training" else model.eval()
        with torch.no_grad():
            outs = outputs(net(x))
        for k, y in outs:
            assert torch.isfinite(y).all() and y.abs().max() > 0, (key, mode, k)
        doc[mode] = [[k, summary(y)] for k, y in outs]
    return doc


def main(keys: list[str]) -> None:
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    import torchvision
    source = (f"torchvision {torchvision.__version__.split('+')[0]} with torch "
              f"{torch.__version__.split('+')[0]}, weights=None, weights_backbone=None, "
              f"eval mode; MACs: fvcore FlopCountAnalysis conv + linear at batch 1 (one "
              f"multiply-add counts once); made by tests/reference/make_dense_reference.py")
    record(OUT, source, keys or ENTRIES, static_numbers, fingerprint, FINGERPRINTED, 44)


if __name__ == "__main__":
    main(sys.argv[1:])
