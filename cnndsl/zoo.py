"""The zoo: torchvision's classification and segmentation builders as specs.

``zoo:NAME`` names a builder of torchvision 0.29 (``resnet50``,
``convnext_tiny``, ``deeplabv3_resnet50``...), or ``resnet50_fpn``,
the feature pyramid torchvision's ``resnet_fpn_backbone("resnet50")``
builds. Behind each name there is one spec per family in
``specs/zoo/`` and the network parameters that make the variant; the
numbers of every variant are checked against torchvision's
(tests/reference/zoo.json, tests/test_zoo.py; the networks with several
outputs or auxiliary heads: tests/reference/zoo_dense.json,
tests/test_zoo_dense.py). Keyword arguments take torchvision's names
(``aux_loss=True``, ``aux_logits=True``).

>>> load_zoo("resnet18").params
11689512
"""

from __future__ import annotations

from pathlib import Path

PREFIX = "zoo:"

# builder name -> (family spec in specs/zoo/, network parameters)
_RESNET = {"groups": 1, "width_per_group": 64}
_BASIC = {**_RESNET, "block_type": "basic"}
_BOTTLENECK = {**_RESNET, "block_type": "bottleneck"}
_VGG = {"vgg11": (1, 1, 2, 2, 2), "vgg13": (2, 2, 2, 2, 2), "vgg16": (2, 2, 3, 3, 3),
        "vgg19": (2, 2, 4, 4, 4)}  # convs per stage: the paper's configurations A, B, D, E
# RegNet stages as torchvision's BlockParams.from_init_params computes them
# (float32 logarithms the language cannot do): depths, widths, group widths
_REGNET = {
    "regnet_x_400mf": ((1, 2, 7, 12), (32, 64, 160, 400), (16, 16, 16, 16)),
    "regnet_x_800mf": ((1, 3, 7, 5), (64, 128, 288, 672), (16, 16, 16, 16)),
    "regnet_x_1_6gf": ((2, 4, 10, 2), (72, 168, 408, 912), (24, 24, 24, 24)),
    "regnet_x_3_2gf": ((2, 6, 15, 2), (96, 192, 432, 1008), (48, 48, 48, 48)),
    "regnet_x_8gf": ((2, 5, 15, 1), (80, 240, 720, 1920), (80, 120, 120, 120)),
    "regnet_x_16gf": ((2, 6, 13, 1), (256, 512, 896, 2048), (128, 128, 128, 128)),
    "regnet_x_32gf": ((2, 7, 13, 1), (336, 672, 1344, 2520), (168, 168, 168, 168)),
    "regnet_y_400mf": ((1, 3, 6, 6), (48, 104, 208, 440), (8, 8, 8, 8)),
    "regnet_y_800mf": ((1, 3, 8, 2), (64, 144, 320, 784), (16, 16, 16, 16)),
    "regnet_y_1_6gf": ((2, 6, 17, 2), (48, 120, 336, 888), (24, 24, 24, 24)),
    "regnet_y_3_2gf": ((2, 5, 13, 1), (72, 216, 576, 1512), (24, 24, 24, 24)),
    "regnet_y_8gf": ((2, 4, 10, 1), (224, 448, 896, 2016), (56, 56, 56, 56)),
    "regnet_y_16gf": ((2, 4, 11, 1), (224, 448, 1232, 3024), (112, 112, 112, 112)),
    "regnet_y_32gf": ((2, 5, 12, 1), (232, 696, 1392, 3712), (232, 232, 232, 232)),
    "regnet_y_128gf": ((2, 7, 17, 1), (528, 1056, 2904, 7392), (264, 264, 264, 264)),
}
# EfficientNet B0-B7: (width_mult, depth_mult, dropout); B5-B7 use TensorFlow's batch norm
_EFFICIENTNET = {"b0": (1.0, 1.0, 0.2), "b1": (1.0, 1.1, 0.2), "b2": (1.1, 1.2, 0.3),
                 "b3": (1.2, 1.4, 0.3), "b4": (1.4, 1.8, 0.4), "b5": (1.6, 2.2, 0.4),
                 "b6": (1.8, 2.6, 0.5), "b7": (2.0, 3.1, 0.5)}
_TF_BN = {"bn_eps": 0.001, "bn_momentum": 0.01}
# torchvision.models.segmentation: 21 classes (Pascal VOC), no auxiliary head unless
# aux_loss=True; ResNet dilates its last two stages (output stride 8), MobileNetV3 its last
_SEGMENTATION = {"classes": 21, "aux_loss": False}
_DILATED_RESNET = {**_BOTTLENECK, **_SEGMENTATION, "dilate": (False, True, True)}
_DILATED_MOBILENET = {"arch": "large", "dilated": True, **_SEGMENTATION}
ZOO: dict[str, tuple[str, dict]] = {
    "alexnet": ("alexnet.cnn", {}),
    **{f"convnext_{name}": ("convnext.cnn", {"dims": dims, "depths": depths,
                                             "stochastic_depth_prob": p})
       for name, dims, depths, p in (("tiny", (96, 192, 384, 768), (3, 3, 9, 3), 0.1),
                                     ("small", (96, 192, 384, 768), (3, 3, 27, 3), 0.4),
                                     ("base", (128, 256, 512, 1024), (3, 3, 27, 3), 0.5),
                                     ("large", (192, 384, 768, 1536), (3, 3, 27, 3), 0.5))},
    "densenet121": ("densenet.cnn", {"growth_rate": 32, "block_config": (6, 12, 24, 16),
                                     "num_init_features": 64}),
    "densenet161": ("densenet.cnn", {"growth_rate": 48, "block_config": (6, 12, 36, 24),
                                     "num_init_features": 96}),
    "densenet169": ("densenet.cnn", {"growth_rate": 32, "block_config": (6, 12, 32, 32),
                                     "num_init_features": 64}),
    "densenet201": ("densenet.cnn", {"growth_rate": 32, "block_config": (6, 12, 48, 32),
                                     "num_init_features": 64}),
    **{f"efficientnet_{name}": ("efficientnet.cnn", {
        "arch": "b", "width_mult": width, "depth_mult": depth, "dropout": dropout,
        **(_TF_BN if name in ("b5", "b6", "b7") else {})})
       for name, (width, depth, dropout) in _EFFICIENTNET.items()},
    **{f"efficientnet_v2_{name}": ("efficientnet.cnn", {"arch": f"v2_{name}", "dropout": dropout,
                                                        "bn_eps": 0.001})
       for name, dropout in (("s", 0.2), ("m", 0.3), ("l", 0.4))},
    "deeplabv3_mobilenet_v3_large": ("mobilenet_v3.cnn", {**_DILATED_MOBILENET,
                                                          "head": "deeplabv3"}),
    "deeplabv3_resnet50": ("resnet.cnn", {**_DILATED_RESNET, "layers": (3, 4, 6, 3),
                                          "head": "deeplabv3"}),
    "deeplabv3_resnet101": ("resnet.cnn", {**_DILATED_RESNET, "layers": (3, 4, 23, 3),
                                           "head": "deeplabv3"}),
    "fcn_resnet50": ("resnet.cnn", {**_DILATED_RESNET, "layers": (3, 4, 6, 3), "head": "fcn"}),
    "fcn_resnet101": ("resnet.cnn", {**_DILATED_RESNET, "layers": (3, 4, 23, 3), "head": "fcn"}),
    "googlenet": ("googlenet.cnn", {}),
    "inception_v3": ("inception_v3.cnn", {}),
    "lraspp_mobilenet_v3_large": ("mobilenet_v3.cnn", {**_DILATED_MOBILENET, "head": "lraspp"}),
    "mnasnet0_5": ("mnasnet.cnn", {"alpha": 0.5}),
    "mnasnet0_75": ("mnasnet.cnn", {"alpha": 0.75}),
    "mnasnet1_0": ("mnasnet.cnn", {"alpha": 1.0}),
    "mnasnet1_3": ("mnasnet.cnn", {"alpha": 1.3}),
    "mobilenet_v2": ("mobilenet_v2.cnn", {}),
    "mobilenet_v3_large": ("mobilenet_v3.cnn", {"arch": "large"}),
    "mobilenet_v3_small": ("mobilenet_v3.cnn", {"arch": "small"}),
    **{name: ("regnet.cnn", {"depths": depths, "widths": widths, "group_widths": group_widths,
                             "se_ratio": 0.25 if name.startswith("regnet_y") else 0.0})
       for name, (depths, widths, group_widths) in _REGNET.items()},
    "resnet18": ("resnet.cnn", {**_BASIC, "layers": (2, 2, 2, 2)}),
    "resnet34": ("resnet.cnn", {**_BASIC, "layers": (3, 4, 6, 3)}),
    "resnet50": ("resnet.cnn", {**_BOTTLENECK, "layers": (3, 4, 6, 3)}),
    "resnet101": ("resnet.cnn", {**_BOTTLENECK, "layers": (3, 4, 23, 3)}),
    # torchvision's resnet_fpn_backbone("resnet50"): Faster R-CNN's backbone and pyramid
    "resnet50_fpn": ("resnet.cnn", {**_BOTTLENECK, "layers": (3, 4, 6, 3), "head": "fpn",
                                    "frozen_bn": True}),
    "resnet152": ("resnet.cnn", {**_BOTTLENECK, "layers": (3, 8, 36, 3)}),
    "resnext50_32x4d": ("resnet.cnn", {**_BOTTLENECK, "layers": (3, 4, 6, 3),
                                       "groups": 32, "width_per_group": 4}),
    "resnext101_32x8d": ("resnet.cnn", {**_BOTTLENECK, "layers": (3, 4, 23, 3),
                                        "groups": 32, "width_per_group": 8}),
    "resnext101_64x4d": ("resnet.cnn", {**_BOTTLENECK, "layers": (3, 4, 23, 3),
                                        "groups": 64, "width_per_group": 4}),
    **{f"shufflenet_v2_{name}": ("shufflenet_v2.cnn", {"stages_out_channels": widths})
       for name, widths in (("x0_5", (24, 48, 96, 192, 1024)), ("x1_0", (24, 116, 232, 464, 1024)),
                            ("x1_5", (24, 176, 352, 704, 1024)), ("x2_0", (24, 244, 488, 976, 2048)))},
    "squeezenet1_0": ("squeezenet.cnn", {"version": "1_0"}),
    "squeezenet1_1": ("squeezenet.cnn", {"version": "1_1"}),
    **{name: ("vgg.cnn", {"layers": layers, "batch_norm": False}) for name, layers in _VGG.items()},
    **{f"{name}_bn": ("vgg.cnn", {"layers": layers, "batch_norm": True})
       for name, layers in _VGG.items()},
    "wide_resnet50_2": ("resnet.cnn", {**_BOTTLENECK, "layers": (3, 4, 6, 3),
                                       "width_per_group": 128}),
    "wide_resnet101_2": ("resnet.cnn", {**_BOTTLENECK, "layers": (3, 4, 23, 3),
                                        "width_per_group": 128}),
}


def zoo_dir() -> Path:
    """The zoo's specs: shipped in the wheel, or the repository's in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "specs" / "zoo", here.parent / "specs" / "zoo"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("cnndsl's zoo specs (specs/zoo/) are missing from the installation")


def resolve(name: str) -> tuple[Path, dict]:
    """The spec file and network parameters of builder ``name`` (``zoo:`` optional)."""
    name = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if name not in ZOO:
        from .diagnostics import suggest
        hint = suggest(name, ZOO)
        raise KeyError(f"no zoo network `{name}`" + (f"; {hint}" if hint else ""))
    file, settings = ZOO[name]
    return (zoo_dir() / file).resolve(), dict(settings)


def load_zoo(name: str, **options):
    """``cnndsl.load`` of a zoo builder; keyword arguments override its parameters."""
    from .network import load
    path, settings = resolve(name)
    settings.update(options)
    return load(path, **settings)
