"""`cnndsl import`: an existing PyTorch CNN as a spec.

    cnndsl import torchvision.models:resnet50 --input 3x224x224 -o r50.cnn
    cnndsl import mypkg.nets:Net --set classes=10 --input 1x28x28

MODULE:CALLABLE names a function or class that returns the model; the
``--set`` values are its keyword arguments. The spec is traced from the
model in eval mode and checked against it before it is written
(:func:`cnndsl.importer.from_module`). What the language cannot express
is one error line naming the module path and the operation, exit 1.
"""

from __future__ import annotations

import sys

HELP = "write the spec of an existing PyTorch model (MODULE:CALLABLE, traced with torch.fx)"


def add_arguments(parser) -> None:
    parser.add_argument("spec", nargs="?", metavar="MODULE:CALLABLE",
                        help="the model's builder, e.g. torchvision.models:resnet50 or "
                             "mypkg.nets:Net (imported from the current directory too)")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="NAME=VALUE",
                        help="keyword arguments of the builder, e.g. --set num_classes=10")
    parser.add_argument("--input", metavar="CxHxW", required=True,
                        help="the input shape of one sample, e.g. 3x224x224 (or F, flat)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the spec here (to stdout when no output is named)")
    parser.add_argument("--name", help="the network's name (default: the callable's)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip running the model and the spec side by side")


def _target(text: str):
    from ..cli import UsageError  # noqa: PLC0415

    module_name, sep, attr = text.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"name the model as MODULE:CALLABLE (torchvision.models:resnet50), "
                         f"got {text!r}")
    return module_name, attr


def _load(module_name: str, attr: str, kwargs: dict):
    """The model, or an error line (str)."""
    import importlib  # noqa: PLC0415

    if "" not in sys.path:
        sys.path.insert(0, "")  # as `python -m` does: the current directory's packages
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - the user's module, whatever it raises
        return f"cannot import {module_name}: {type(e).__name__}: {e}"
    target = module
    for part in attr.split("."):
        if not hasattr(target, part):
            return f"{module_name} has no {attr}"
        target = getattr(target, part)
    if not callable(target):
        return f"{module_name}:{attr} is not callable"
    try:
        model = target(**kwargs)
    except Exception as e:  # noqa: BLE001
        return f"{module_name}:{attr}({_shown(kwargs)}) failed: {type(e).__name__}: {e}"
    import torch  # noqa: PLC0415

    if not isinstance(model, torch.nn.Module):
        return f"{module_name}:{attr} returned {type(model).__name__}, not a torch.nn.Module"
    return model


def _shown(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def run(args) -> int:
    from .. import cli  # noqa: PLC0415
    from ..extras import require  # noqa: PLC0415

    if args.spec is None:
        raise cli.UsageError("the following arguments are required: MODULE:CALLABLE")
    module_name, attr = _target(args.spec)
    shape = cli._input(args.input)
    if shape is None or any(isinstance(d, str) for d in shape):
        raise cli.UsageError(f"--input takes CxHxW or F with sizes, such as 3x224x224, "
                             f"got {args.input!r}")
    kwargs = cli._settings(args.set)
    if args.output:
        from ..files import check_target  # noqa: PLC0415
        check_target(args.output)
    require("torch", "cnndsl import")

    from ..importer import ImportFailure, from_module  # noqa: PLC0415
    model = _load(module_name, attr, kwargs)
    if isinstance(model, str):
        print(f"cnndsl: error: {model}", file=sys.stderr)
        return 1
    name = args.name or _network_name(attr)
    try:
        text = from_module(model, shape, name=name, verify=not args.no_verify)
    except ImportFailure as e:
        print(f"cnndsl: error: cannot import {args.spec}: {e}", file=sys.stderr)
        return 1
    if args.output:
        from ..files import atomic_write  # noqa: PLC0415
        atomic_write(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _network_name(attr: str) -> str:
    from ..importer import _snake  # noqa: PLC0415 (light: torch is imported inside functions)

    return _snake(attr.rsplit(".", 1)[-1])
