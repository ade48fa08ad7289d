"""Copy weights between two modules of the same architecture, whatever their names.

A compiled module registers its layers in graph order, and so do careful
hand-written modules and torchvision's models (each layer's parameters
and buffers in ``state_dict`` order: conv weight and bias, then batch
norm weight, bias, running mean, running variance, batch counter). Pairing
the two ``state_dict`` sequences entry by entry, checking every shape,
therefore loads pretrained weights into a spec without a name map.

Where that order differs (a module that registers its branches in
another order than it uses them, or a bare parameter before or after its
siblings), the entries pair by module structure and shape instead
(:mod:`cnndsl.pairing`): a layer's entries travel together, and whatever
cannot be told apart is refused by name rather than guessed.

>>> import torch, cnndsl
>>> net = cnndsl.loads("network t\\ninput [1, 8, 8]\\nconv(4, k=3) relu flatten linear(2)")
>>> src = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
...                           torch.nn.Linear(144, 2))
>>> dst = net.to_module()
>>> cnndsl.transfer_weights(src, dst)
<TransferReport: 4 entries copied in order>
>>> torch.equal(dst.linear_1.weight, src[3].weight)
True

A layer scale held by a submodule after the conv, as timm writes it, where
the compiled spec holds a bare parameter that comes first:

>>> class LayerScale(torch.nn.Module):
...     def __init__(self, channels):
...         super().__init__()
...         self.gamma = torch.nn.Parameter(torch.full((channels, 1, 1), 0.5))
...     def forward(self, x):
...         return x * self.gamma
>>> src = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, padding=1), LayerScale(4))
>>> dst = cnndsl.loads("network t\\ninput [4, 6, 6]\\nconv(4, k=3, p=1) layer_scale(1e-6)"
...                    ).to_module()
>>> cnndsl.transfer_weights(src, dst).pairs
(('0.weight', 'conv_1.weight'), ('0.bias', 'conv_1.bias'), ('1.gamma', 'layer_scale_1'))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_SHOWN = 4  # unpaired entries named per side in an error; the report holds them all


class TransferError(ValueError):
    """The two modules do not pair up; the message names the entries."""


@dataclass(frozen=True)
class TransferReport:
    """What :func:`transfer_weights` copied, and what it could not pair.

    ``pairs`` are (source key, destination key) in source order;
    ``problems`` say why entries that fit in shape were not paired (two
    equally good candidates, layers in the other order)."""
    pairs: tuple[tuple[str, str], ...]
    unpaired_source: tuple[str, ...] = ()
    unpaired_destination: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    by_structure: bool = False  # False: every entry paired with the one at its position

    @property
    def complete(self) -> bool:
        return not (self.unpaired_source or self.unpaired_destination or self.problems)

    def __repr__(self) -> str:
        how = "by structure" if self.by_structure else "in order"
        rest = "" if self.complete else \
            f", {len(self.unpaired_source)} source and {len(self.unpaired_destination)} " \
            "destination entries not"
        return f"<TransferReport: {len(self.pairs)} entries copied {how}{rest}>"

    def __str__(self) -> str:
        text = repr(self)[1:-1]
        for side, keys in (("source", self.unpaired_source),
                           ("destination", self.unpaired_destination)):
            if keys:
                text += f"\n  {side} not copied: " + ", ".join(map(repr, keys))
        return text + "".join(f"\n  {p}" for p in self.problems)


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


def transfer_weights(src, dst, *, strict: bool = True,
                     allow_nonfinite: bool = False) -> TransferReport:
    """Copy every parameter and buffer of ``src`` into ``dst``; return what was copied.

    ``src`` is an ``nn.Module`` or a state_dict; ``dst`` an ``nn.Module``
    (such as ``cnndsl.load(spec).to_module()``). Entries pair by position
    in ``state_dict`` order when every pair then agrees in shape and kind
    (parameter or buffer); otherwise by module structure and shape
    (:mod:`cnndsl.pairing`), so a module that registers its branches or a
    bare parameter in another order still loads. Each value must be a
    tensor whose values survive the copy: not on the meta device, no
    complex values into real ones, integer entries only from whole numbers
    in range, and finite values unless ``allow_nonfinite``.

    With ``strict=True`` every entry of both sides must pair. Otherwise a
    :class:`TransferError` says where pairing in order first failed and
    which entries on each side pair with nothing by structure, or which
    could be either of two; ``strict=False`` copies the pairs and returns
    the rest in the report (a new head, say). Either way nothing is copied
    unless every pair agrees in kind and value:

    >>> import torch, cnndsl
    >>> src = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(),
    ...                           torch.nn.Linear(144, 1000))
    >>> dst = cnndsl.loads("network t\\ninput [1, 8, 8]\\nconv(4, k=3) flatten linear(10)"
    ...                    ).to_module()
    >>> print(cnndsl.transfer_weights(src, dst, strict=False))
    TransferReport: 2 entries copied by structure, 2 source and 2 destination entries not
      source not copied: '2.weight', '2.bias'
      destination not copied: 'linear_1.weight', 'linear_1.bias'
    >>> torch.equal(dst.conv_1.weight, src[0].weight)
    True
    """
    from .extras import require  # noqa: PLC0415
    require("torch", "transfer_weights()")
    import torch  # noqa: PLC0415 (cnndsl check does not import torch)
    _check_not_folded(src, dst)

    theirs, ours = _entries(src), _entries(dst)
    _check_usable(torch, theirs, ours, dst)
    in_order = _in_order_problem(theirs, ours, dst)
    problems: list[str] = []
    if in_order:
        from .pairing import pair_by_structure  # noqa: PLC0415 (only when order fails)

        pairing = pair_by_structure([(k, tuple(v.shape)) for k, v, _ in theirs],
                                    [(k, tuple(v.shape)) for k, v, _ in ours])
        pairs, problems = pairing.pairs, pairing.problems
    else:
        pairs = [(i, i) for i in range(len(ours))]
    lonely = [sorted(set(range(len(side))) - {p[n] for p in pairs})
              for n, side in enumerate((theirs, ours))]
    if strict and (problems or lonely[0] or lonely[1]):
        raise TransferError(f"{in_order}; by structure, " +
                            _unpaired(problems, lonely, theirs, ours, dst))
    for i, j in pairs:
        (s_name, s, s_kind), (d_name, d, d_kind) = theirs[i], ours[j]
        problem = _other_kind(i, theirs[i], ours[j], dst)
        if problem:
            raise TransferError(problem)
        problem = _changed_by_copy(torch, s, d.dtype, allow_nonfinite)
        if problem:
            raise TransferError(f"entry {i}: source {s_kind} {s_name!r} {problem}, for "
                                f"destination {d_kind} {d_name!r}{_where(dst, d_name)}")
    with torch.no_grad():
        for i, j in pairs:
            ours[j][1].copy_(theirs[i][1])
    return TransferReport(tuple((theirs[i][0], ours[j][0]) for i, j in pairs),
                          tuple(theirs[i][0] for i in lonely[0]),
                          tuple(ours[j][0] for j in lonely[1]), tuple(problems), bool(in_order))


def _check_usable(torch, theirs, ours, dst) -> None:
    """Refuse the first value (by position, source first) that cannot take part in a copy."""
    for i in range(max(len(theirs), len(ours))):
        for side, entries, module in (("source", theirs, None), ("destination", ours, dst)):
            if i < len(entries):
                name, value, kind = entries[i]
                problem = _unusable(torch, value)
                if problem:
                    where = _where(module, name) if module is not None else ""
                    raise TransferError(f"entry {i}: {side} {kind} {name!r}{where} {problem}")


def _in_order_problem(theirs, ours, dst) -> str:
    """Why pairing by position fails (the first mismatch), or ''."""
    for i, (source, target) in enumerate(zip(theirs, ours)):
        (s_name, s, s_kind), (d_name, d, d_kind) = source, target
        if tuple(s.shape) != tuple(d.shape):
            return f"entry {i}: source {s_kind} {s_name!r} is {_shape(s)} but destination " \
                   f"{d_kind} {d_name!r}{_where(dst, d_name)} is {_shape(d)}"
        problem = _other_kind(i, source, target, dst)
        if problem:
            return problem
    if len(theirs) != len(ours):
        more, fewer = ("source", "destination") if len(theirs) > len(ours) else \
            ("destination", "source")
        extra = (theirs if len(theirs) > len(ours) else ours)[min(len(theirs), len(ours))]
        return (f"the {more} has {max(len(theirs), len(ours))} parameters and buffers, the "
                f"{fewer} {min(len(theirs), len(ours))}; the first without a partner is "
                f"{more} {extra[2]} {extra[0]!r}")
    return ""


def _other_kind(i: int, source, target, dst) -> str:
    """A parameter paired with a buffer (a state_dict's entries are either), or ''."""
    (s_name, _, s_kind), (d_name, _, d_kind) = source, target
    if "entry" in (s_kind, d_kind) or s_kind == d_kind:
        return ""
    return f"entry {i}: source {s_name!r} is a {s_kind} but destination " \
           f"{d_name!r}{_where(dst, d_name)} is a {d_kind}"


def _unpaired(problems, lonely, theirs, ours, dst) -> str:
    """The first problem and the entries that pair with nothing, a few per side."""
    parts = problems[:1]
    for side, indexes, entries, module in (("source", lonely[0], theirs, None),
                                           ("destination", lonely[1], ours, dst)):
        if indexes:
            shown, said = [], ""
            for i in indexes[:_SHOWN]:  # where a layer is declared, once for its entries
                where = _where(module, entries[i][0]) if module is not None else ""
                shown.append(f"{entries[i][0]!r} {_shape(entries[i][1])}"
                             f"{where if where != said else ''}")
                said = where
            more = f" and {len(indexes) - _SHOWN} more" if len(indexes) > _SHOWN else ""
            parts.append(f"{len(indexes)} {side} entr{'y' if len(indexes) == 1 else 'ies'} "
                         f"pair with nothing: {', '.join(shown)}{more}")
    return "; ".join(parts)


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


def _check_not_folded(src, dst) -> None:
    """Batch norm folded on one side only: a BN entry would pair with a conv bias."""
    folded = [getattr(type(m), "folded_batchnorm", ()) for m in (src, dst)]
    if bool(folded[0]) != bool(folded[1]):
        side, names = ("source", folded[0]) if folded[0] else ("destination", folded[1])
        raise TransferError(f"the {side} has its batch norm folded into its convolutions "
                            f"({len(names)} layers, {names[0]} first): transfer into "
                            "net.to_module() first, then fold it (cnndsl.fold_batchnorm)")
