"""The imported spec checked against the model it came from.

It must compile without errors, have the model's parameter and buffer
shapes (``transfer_weights`` pairs every entry), and give the model's
output on a seeded input after the transfer (float64, eval). Otherwise
the import fails rather than hand back a wrong spec.
"""

from __future__ import annotations

import copy



def verify(model, text: str, input_shape: tuple, tolerance: float = 1e-8) -> None:
    import torch

    from ..diagnostics import CnnError
    from ..network import loads
    from ..transfer import transfer_weights

    from . import ImportFailure
    try:
        net = loads(text, "<import>")
    except CnnError as e:  # a bug of the importer, said plainly
        raise ImportFailure("the spec written for the model does not check:\n"
                            + e.render()) from None
    ours = net.to_module().double().eval()
    theirs = copy.deepcopy(model).double().eval()
    try:
        transfer_weights(theirs, ours)
    except Exception as e:  # noqa: BLE001 - TransferError and friends
        raise ImportFailure(f"the spec's parameters do not pair with the model's: {e}") from None
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((1, *input_shape), generator=gen, dtype=torch.float64)
    with torch.no_grad():
        want, got = theirs(x), ours(x)
    if not isinstance(want, torch.Tensor) or want.shape != got.shape:
        raise ImportFailure(f"the spec's output shape {tuple(got.shape)} is not the model's")
    scale = want.abs().max().item() or 1.0
    if (got - want).abs().max().item() > tolerance * max(scale, 1.0):
        raise ImportFailure("the spec computes another function than the model (largest "
                            f"difference {(got - want).abs().max().item():.3g}); the model "
                            "does something the importer cannot see")

