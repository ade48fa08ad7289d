"""The op registry: every layer type, one file per family.

Importing this package registers every op. ``lookup(name)`` resolves a
name or alias.
"""

# Registration, in the order of the layer reference (docs/language.md).
from . import activation, conv, linear, merge, norm, pool, resample, padding, channel, scale  # noqa: F401, I001
from .input import INPUT
from .base import (GLOBAL, NAMES, POINTWISE, REGISTRY, ArgError, Ctor, Op, Param, ShapeError,
                   Window)

__all__ = ["INPUT", "GLOBAL", "NAMES", "POINTWISE", "REGISTRY", "ArgError", "Ctor", "Op", "Param",
           "ShapeError", "Window", "lookup"]


def lookup(name: str) -> Op | None:
    return NAMES.get(name)
