"""The op registry: every layer type, one file per family.

Importing this package registers every op. ``lookup(name)`` resolves a
name or alias.
"""

from . import activation, conv, linear, merge, norm, pool  # noqa: F401  (registration)
from .input import INPUT
from .base import GLOBAL, NAMES, POINTWISE, REGISTRY, ArgError, Ctor, Op, ShapeError, Window

__all__ = ["INPUT", "GLOBAL", "NAMES", "POINTWISE", "REGISTRY", "ArgError", "Ctor", "Op", "ShapeError",
           "Window", "lookup"]


def lookup(name: str) -> Op | None:
    return NAMES.get(name)
