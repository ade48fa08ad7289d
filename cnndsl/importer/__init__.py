"""An existing PyTorch CNN as a spec: ``cnndsl.from_module(model, input_shape)``.

The model is traced with torch.fx (:mod:`.trace`), its layers read back
into ops (:mod:`.leaves`), its data flow nested into module calls, paths
and merges (:mod:`.structure`); the calls of one module class become one
block (:mod:`.unify`), and the text is written as specs/ write it
(:mod:`.emit`). The spec is then checked against the model: it must
compile, have the same parameters and buffers, and, after
``transfer_weights``, give the same output (float64, eval). What the
language cannot express is an :class:`ImportFailure` naming the module
path and the operation; no spec is returned then.

torch is imported inside the functions that need it.
"""

from __future__ import annotations

import re

from .leaves import Unsupported


class ImportFailure(Exception):
    """The model cannot be written in the language; the message says where and why."""


def from_module(model, input_shape, *, name: str | None = None, verify: bool = True) -> str:
    """The spec of ``model`` (a torch.nn.Module) for inputs of ``input_shape``: (C, H, W),
    or (F,) for a network of flat features.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU())
    >>> print(from_module(net, (3, 16, 16)), end="")
    network sequential(in_channels = 3)
    input [in_channels, 16, 16]
    <BLANKLINE>
    conv(8, k=3, p=1) relu
    """
    from .build import build
    from .trace import trace

    shape = tuple(int(d) for d in input_shape)
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise ImportFailure(f"the input shape must be (C, H, W) or (F,) with positive sizes, "
                            f"got {shape}")
    was_training = model.training
    model.eval()
    try:
        traced = trace(model, shape)
        text = build(traced, name or _snake(type(model).__name__).replace("_", ""))
    except Unsupported as e:
        raise ImportFailure(str(e)) from None
    finally:
        model.train(was_training)
    text = _formatted(text)
    if verify:
        from .verify import verify as check
        was_training = model.training
        model.eval()
        try:
            check(model, text, shape)
        finally:
            model.train(was_training)
    return text


def _formatted(text: str) -> str:
    """Through `cnndsl fmt` where it exists; the text is already in its layout."""
    try:
        from ..fmt import format_source
    except ImportError:
        return text
    try:
        return format_source(text, file="<import>")
    except Exception:  # noqa: BLE001 - the check that follows reports a text that does not parse
        return text


def _snake(name: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip("_")).lower()
    name = re.sub(r"[^a-z0-9_]", "_", name) or "net"
    return name if not name[0].isdigit() else "net_" + name


__all__ = ["ImportFailure", "from_module"]
