"""Copy weights between two modules of the same architecture, whatever their names.

A compiled module registers its layers in graph order, and so do careful
hand-written modules and torchvision's models (each layer's parameters
and buffers in ``state_dict`` order: conv weight and bias, then batch
norm weight, bias, running mean, running variance, batch counter). Pairing
the two ``state_dict`` sequences entry by entry, checking every shape,
therefore loads pretrained weights into a spec without a name map.

>>> import torch, cnndsl
>>> net = cnndsl.loads("network t\\ninput [1, 8, 8]\\nconv(4, k=3) relu flatten linear(2)")
>>> src = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
...                           torch.nn.Linear(144, 2))
>>> dst = net.to_module()
>>> cnndsl.transfer_weights(src, dst)
>>> torch.equal(dst.linear_1.weight, src[3].weight)
True
"""

from __future__ import annotations

from collections.abc import Mapping


class TransferError(ValueError):
    """The two modules do not line up; the message names the first mismatch."""


def _entries(module) -> list[tuple[str, object, str]]:
    """(name, tensor, kind) in state_dict order; kind is parameter, buffer or entry."""
    if isinstance(module, Mapping):  # a bare state_dict, such as torch.load(...) returns
        return [(k, v, "entry") for k, v in module.items()]
    params = {name for name, _ in module.named_parameters()}
    return [(k, v, "parameter" if k in params else "buffer")
            for k, v in module.state_dict(keep_vars=True).items()]


def _shape(t) -> str:
    return "x".join(map(str, t.shape)) or "scalar"


def _where(module, key: str) -> str:
    """`  (declared at specs/x.cnn:12:5)` for a compiled module's layer."""
    lines = getattr(module, "spec_lines", None)
    if not isinstance(lines, dict):
        return ""
    layer = key.rpartition(".")[0]
    return f" (declared at {lines[layer]})" if layer in lines else ""


def transfer_weights(src, dst) -> None:
    """Copy every parameter and buffer of ``src`` into ``dst``, pairing them in order.

    ``src`` is an ``nn.Module`` or a state_dict; ``dst`` an ``nn.Module``
    (such as ``cnndsl.load(spec).to_module()``). Entries pair by position
    in ``state_dict`` order; each pair must agree in shape and in kind
    (parameter or buffer). Nothing is copied unless every pair agrees: on
    the first mismatch a :class:`TransferError` names both entries.
    """
    import torch  # noqa: PLC0415 (cnndsl check does not import torch)

    theirs, ours = _entries(src), _entries(dst)
    for i, ((s_name, s, s_kind), (d_name, d, d_kind)) in enumerate(zip(theirs, ours)):
        if tuple(s.shape) != tuple(d.shape):
            raise TransferError(
                f"entry {i}: source {s_kind} {s_name!r} is {_shape(s)} but destination "
                f"{d_kind} {d_name!r}{_where(dst, d_name)} is {_shape(d)}")
        if "entry" not in (s_kind, d_kind) and s_kind != d_kind:
            raise TransferError(f"entry {i}: source {s_name!r} is a {s_kind} but destination "
                                f"{d_name!r}{_where(dst, d_name)} is a {d_kind}")
    if len(theirs) != len(ours):
        more, fewer = ("source", "destination") if len(theirs) > len(ours) else \
            ("destination", "source")
        extra = (theirs if len(theirs) > len(ours) else ours)[min(len(theirs), len(ours))]
        raise TransferError(f"the {more} has {max(len(theirs), len(ours))} parameters and "
                            f"buffers, the {fewer} {min(len(theirs), len(ours))}; the first "
                            f"without a partner is {more} {extra[2]} {extra[0]!r}")
    with torch.no_grad():
        for (_, s, _), (_, d, _) in zip(theirs, ours):
            d.copy_(s)
