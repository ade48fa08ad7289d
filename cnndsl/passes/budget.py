"""Whether a network's parameters fit in memory, answered before building it.

``check`` warns (W0401); building a module refuses (E0404) before torch
allocates anything: call :func:`module_fits` first, as
:meth:`cnndsl.Network.to_module` does. Parameters and buffers are counted
at float32 (4 bytes each), what the torch backend allocates.

Needs the cost pass (``params`` and ``buffers`` totals on the graph).
"""

from __future__ import annotations

import os

from ..diagnostics import Diagnostic
from ..units import si

BYTES_PER_ELEMENT = 4  # float32


def memory_available() -> int | None:
    """Bytes of memory this process could allocate now, or None if unknown.

    ``CNNDSL_MEMORY_LIMIT`` (bytes) if set, to plan for a smaller machine
    than this one; else Linux's MemAvailable (free plus reclaimable); else
    physical memory.
    """
    limit = os.environ.get("CNNDSL_MEMORY_LIMIT")
    if limit:
        try:
            return int(limit)
        except ValueError:
            pass  # a malformed setting is ignored rather than fatal to `check`
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def parameter_bytes(graph) -> int:
    """Bytes of a module's parameters and buffers at float32."""
    return (graph.graph["params"] + graph.graph["buffers"]) * BYTES_PER_ELEMENT


def module_fits(graph, budget: int | None = None, severity: str = "error") -> Diagnostic | None:
    """None if the module's parameters fit in ``budget`` bytes (default: the
    memory available now), else a diagnostic (E0404, or W0401 as a warning)
    that names the numbers and points at the largest layer."""
    budget = memory_available() if budget is None else budget
    need = parameter_bytes(graph)
    if budget is None or need <= budget:
        return None
    layers = [(data["params"] + data["buffers"], node) for node, data in graph.nodes(data=True)]
    size, largest = max(layers)
    data = graph.nodes[largest]
    count = graph.graph["params"] + graph.graph["buffers"]
    error = severity == "error"
    return Diagnostic(
        "E0404" if error else "W0401",
        f"the module's {count:,} parameters and buffers need {si(need, 'B')}, more than the "
        f"{si(budget, 'B')} of memory available", data["span"],
        f"the largest layer: {size:,} ({si(size * BYTES_PER_ELEMENT, 'B')})",
        notes=tuple(data["chain"]),
        help="use fewer or narrower layers" if error else
        "`check` works on it, but building the module (compile, to_module) will be refused",
        severity=severity)


def run(graph) -> list[Diagnostic]:
    """A warning when a module built from this graph would not fit in memory."""
    found = module_fits(graph, severity="warning")
    return [found] if found else []
