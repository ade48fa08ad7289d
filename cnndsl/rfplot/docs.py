"""docs/images/rf/: the pictures of docs/receptive-field.md, redrawn by one command.

    .venv/bin/python -m cnndsl.rfplot --docs                 # every picture
    .venv/bin/python -m cnndsl.rfplot --docs --no-effective  # all but the one that needs torch

Each picture is what a `cnndsl rf` command makes; DOCS lists the command
next to the file, and the page shows the same commands.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
IMAGES = Path("docs/images/rf")

# file -> the `cnndsl rf` arguments that draw it (spec paths relative to the repository root)
DOCS = {
    "lenet.png": "specs/lenet.cnn",
    "vgg16.png": "specs/vgg16.cnn",
    "googlenet.png": "specs/googlenet.cnn",
    "resnet50.png": "specs/resnet50.cnn",
    "growth.png": "specs/vgg16.cnn specs/resnet50.cnn specs/googlenet.cnn --plot growth",
    "resnet18-effective.png": "specs/resnet18.cnn --effective --samples 16",
}


TITLES = {
    "lenet.png": "LeNet: each layer that widens the field",
    "vgg16.png": "VGG-16: the last layer of each block",
    "googlenet.png": "GoogLeNet: fields past the image, mostly padding",
    "resnet50.png": "ResNet-50: the last layer of each stage",
    "growth.png": "Field size and stride against depth: VGG-16, ResNet-50, GoogLeNet",
    "resnet18-effective.png": "ResNet-18: the effective field beside the theoretical one",
}


def gallery_page() -> str:
    """docs/gallery/receptive-fields.md: every picture of DOCS with the command that draws it."""
    lines = ["# Receptive fields", "",
             "Drawn by `cnndsl rf` and explained in [Seeing the receptive field]"
             "(../receptive-field.md). Regenerate with `python -m cnndsl.rfplot --docs`.", ""]
    for name, args in DOCS.items():
        lines += [f"## {TITLES[name]}", "", f"    cnndsl rf {args} -o {name}", "",
                  f"![{TITLES[name]}](../images/rf/{name})", ""]
    return "\n".join(lines)


def build(root: Path = ROOT, effective: bool = True) -> list[str]:
    """Draw every picture of DOCS under ``root``/docs/images/rf/; the paths written."""
    from ..cli import main

    written = []
    (root / IMAGES).mkdir(parents=True, exist_ok=True)
    for name, args in DOCS.items():
        if "--effective" in args and not effective:
            continue
        words = [str(root / w) if w.endswith(".cnn") else w for w in shlex.split(args)]
        status = main(["rf", *words, "-o", str(root / IMAGES / name)])
        if status != 0:
            raise SystemExit(f"cnndsl rf {args} -o {IMAGES / name} failed with status {status}")
        written.append((IMAGES / name).as_posix())
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnndsl.rfplot",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--docs", action="store_true", required=True,
                        help="redraw docs/images/rf/")
    parser.add_argument("--no-effective", action="store_true",
                        help="skip the effective field picture (it needs torch)")
    args = parser.parse_args(argv)
    for path in build(effective=not args.no_effective):
        print(f"wrote {path}")
    return 0
