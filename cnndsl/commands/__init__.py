"""Subcommands beyond check, draw, compile and zoo: one module each.

Every module in this package is a ``cnndsl`` subcommand named after it
(``import_`` is ``import``). It defines, with light top-level imports only
(the CLI lists every command on each start):

- ``HELP``: one line for ``cnndsl --help``;
- ``add_arguments(parser)``: its options (``cli.spec_arguments(parser)``
  adds the spec, ``--set``, ``--input`` and the limits that check uses);
- ``run(args) -> int``: the exit status. It may raise ``cli.UsageError``
  (exit 2) or ``CnnError`` (diagnostics, exit 1), as the built-in commands do.
"""

from __future__ import annotations

import importlib
import pkgutil


def modules() -> dict:
    """Command name -> its module, sorted by name."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        found[info.name.rstrip("_")] = importlib.import_module(f"{__name__}.{info.name}")
    return found
