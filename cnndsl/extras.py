"""Which optional extra each feature needs, checked before any work.

``pip install cnndsl`` is the light core: check, draw, fmt, the language
server, the zoo, receptive-field pictures and JSON, none of which imports
torch. Compiling, building modules, transferring weights, importing torch
models and the effective receptive field need the ``torch`` extra; ONNX
export needs the ``onnx`` extra. A feature that needs an extra calls
:func:`require` first, so a missing package is one line that says what to
install, not a traceback from half-way through the work:

>>> require("torch", "cnndsl compile")  # torch is installed here: nothing happens
>>> print(MissingExtra("torch", "cnndsl compile", ("torch",)))  # doctest: +NORMALIZE_WHITESPACE
cnndsl compile needs the torch extra (torch is not installed): pip install "cnndsl[torch]"
(for the CPU-only build of torch, first: pip install torch --index-url
https://download.pytorch.org/whl/cpu)
"""

from __future__ import annotations

import importlib.util
import sys
import warnings

# extra -> the top-level modules it brings, that the features behind it import.
# numpy is in the torch extra only because torch warns at import without it;
# no feature needs it, so its absence is not a missing extra (see _import_torch).
EXTRAS = {
    "torch": ("torch",),
    "onnx": ("torch", "onnx", "onnxscript"),
}
CPU_TORCH = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


class MissingExtra(ImportError):
    """A feature needs an extra that is not installed; the message says what to install."""

    def __init__(self, extra: str, feature: str, missing: tuple[str, ...]):
        self.extra, self.feature, self.missing = extra, feature, tuple(missing)
        *rest, last = self.missing
        names = f"{', '.join(rest)} and {last}" if rest else last
        verb = "is" if len(self.missing) == 1 else "are"
        message = (f"{feature} needs the {extra} extra ({names} {verb} not installed): "
                   f'pip install "cnndsl[{extra}]"')
        if "torch" in self.missing:  # a bare `pip install torch` pulls a multi-GB CUDA build
            message += f" (for the CPU-only build of torch, first: {CPU_TORCH})"
        super().__init__(message, name=self.missing[0])


def missing(extra: str) -> tuple[str, ...]:
    """The modules of ``extra`` that cannot be imported here (found, not imported)."""
    return tuple(m for m in EXTRAS[extra] if not _installed(m))


def require(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtra` unless ``extra`` is installed; ``feature`` names what
    the user asked for (``"cnndsl compile"``, ``"Network.to_module()"``).

    The torch extra's torch is imported here, quietly: without numpy, torch
    warns at import about a feature cnndsl does not use.
    """
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}: one of {', '.join(EXTRAS)}")
    gone = missing(extra)
    if gone:
        raise MissingExtra(extra, feature, gone)
    if "torch" in EXTRAS[extra]:
        _import_torch()


def _installed(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None  # None: imports of it are blocked
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses it, a broken parent
        return False


def _import_torch() -> None:
    if "torch" in sys.modules:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        import torch  # noqa: F401, PLC0415
