"""Deterministic weights and inputs for the zoo's output fingerprints.

Nothing random, nothing that depends on torch's RNG or init code: every
value is a function of the entry's position in torchvision's state_dict,
its name's last part and its shape. tests/reference/make_zoo_reference.py
fills torchvision's models this way to record their outputs; the tests fill
a dictionary keyed by torchvision's names the same way and load it into the
compiled spec with cnndsl.transfer_weights, as a user loads real weights.

Scales keep a deep network's activations finite in float64: weights are
uniform with variance 1/fan_in, batch-norm statistics stay near (0, 1).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch

_PHI = 0.6180339887498949  # golden-ratio steps: a low-discrepancy sequence in [0, 1)
_PLASTIC = 0.7548776662466927


def _pattern(n: int, offset: float) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)
    return torch.frac(k * _PHI + offset) - 0.5  # in [-0.5, 0.5)


def fill(name: str, shape: tuple, index: int) -> torch.Tensor:
    """The value of state_dict entry number ``index`` (torchvision's order)."""
    leaf = name.rsplit(".", 1)[-1]
    n = math.prod(shape)
    if leaf == "num_batches_tracked":
        return torch.zeros(shape, dtype=torch.long)
    u = _pattern(n, (index * _PLASTIC) % 1.0).reshape(shape)
    if leaf == "running_var":
        return 1.0 + (u + 0.5) * 0.5
    if leaf == "running_mean":
        return 0.1 * u
    if len(shape) >= 2:
        fan_in = n // shape[0]
        return u * math.sqrt(12.0 / fan_in)  # uniform, variance 1 / fan_in
    if leaf == "weight":  # norm scales (and prelu slopes)
        return 1.0 + 0.2 * u
    return 0.1 * u


def filled_state_dict(entries) -> OrderedDict:
    """``{name: tensor}`` in the given order, from ``[(name, shape), ...]``."""
    return OrderedDict((name, fill(name, tuple(shape), i)) for i, (name, shape) in enumerate(entries))


def example_input(shape: tuple) -> torch.Tensor:
    """A fixed float64 input of shape (1, C, H, W)."""
    return _pattern(math.prod(shape), 0.25).reshape(1, *shape)
