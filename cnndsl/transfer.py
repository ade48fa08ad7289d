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
    layer = key if key in lines else key.rpartition(".")[0]  # a bare parameter, or a layer's
    return f" (declared at {lines[layer]})" if layer in lines else ""


def transfer_weights(src, dst, *, allow_nonfinite: bool = False) -> None:
    """Copy every parameter and buffer of ``src`` into ``dst``, pairing them in order.

    ``src`` is an ``nn.Module`` or a state_dict; ``dst`` an ``nn.Module``
    (such as ``cnndsl.load(spec).to_module()``). Entries pair by position
    in ``state_dict`` order; each pair must agree in shape and in kind
    (parameter or buffer), and each value must be a tensor whose values
    survive the copy: not on the meta device, no complex values into real
    ones, integer entries only from whole numbers in range, and finite
    values unless ``allow_nonfinite``. Nothing is copied unless every pair
    agrees: on the first problem a :class:`TransferError` names the entry.
    """
    import torch  # noqa: PLC0415 (cnndsl check does not import torch)

    theirs, ours = _entries(src), _entries(dst)
    for i, ((s_name, s, s_kind), (d_name, d, d_kind)) in enumerate(zip(theirs, ours)):
        source = f"source {s_kind} {s_name!r}"
        target = f"destination {d_kind} {d_name!r}{_where(dst, d_name)}"
        for side, value in ((source, s), (target, d)):
            problem = _unusable(torch, value)
            if problem:
                raise TransferError(f"entry {i}: {side} {problem}")
        if tuple(s.shape) != tuple(d.shape):
            raise TransferError(f"entry {i}: {source} is {_shape(s)} but {target} is {_shape(d)}")
        if "entry" not in (s_kind, d_kind) and s_kind != d_kind:
            raise TransferError(f"entry {i}: source {s_name!r} is a {s_kind} but destination "
                                f"{d_name!r}{_where(dst, d_name)} is a {d_kind}")
        problem = _changed_by_copy(torch, s, d.dtype, allow_nonfinite)
        if problem:
            raise TransferError(f"entry {i}: {source} {problem}, for {target}")
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


def _unusable(torch, value) -> str:
    """Why ``value`` cannot take part in a copy, or ''."""
    if not isinstance(value, torch.Tensor):
        kind = type(value)
        return f"is a {kind.__module__}.{kind.__qualname__}, not a torch.Tensor"
    if value.is_meta:
        return "is on the meta device: it has a shape but no values"
    if value.layout != torch.strided:
        return f"has layout {value.layout}; only dense tensors are copied"
    return ""


def _changed_by_copy(torch, s, dtype, allow_nonfinite: bool) -> str:
    """How copying ``s`` into a tensor of ``dtype`` would change its values, or ''.

    Rounding to a narrower float is what loading weights means; dropping an
    imaginary part, truncating 3.9 to 3 or wrapping past an integer's range
    is not."""
    if (s.is_floating_point() or s.is_complex()) and not allow_nonfinite \
            and not bool(torch.isfinite(s).all()):
        return "holds NaN or infinite values (allow them with allow_nonfinite=True)"
    if s.is_complex() and not dtype.is_complex:
        return f"is {s.dtype}: its imaginary part would be lost in {dtype}"
    if not (dtype.is_floating_point or dtype.is_complex) and s.dtype != dtype:
        with torch.no_grad():  # there and back must give the same values (NaN never does)
            if not torch.equal(s.to(dtype).to(s.dtype), s):
                return f"is {s.dtype} with values that {dtype} cannot hold exactly"
    return ""
