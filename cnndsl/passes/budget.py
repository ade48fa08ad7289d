"""Whether a network's parameters fit in memory, answered before building it.

``check`` warns (W0401); building a module refuses (E0404) before torch
allocates anything: call :func:`module_fits` first, as
:meth:`cnndsl.Network.to_module` does. Parameters and buffers are counted
at float32 (4 bytes each), what the torch backend allocates.

An ONNX export (``module_fits(graph, example_batch=EXPORT_BATCH)``) also
needs its example input, ``EXPORT_BATCH`` x the input shape, and a second
copy of the parameters in the file it returns. Not the activations: the
exporter (torch.export) traces with fake tensors. Measured with a
global-pool spec at 3x3000x3000, whose inference peak is 4.6 GB a sample:
the whole process peaked at 655 MB, the 216 MB example included.

Needs the cost pass (``params`` and ``buffers`` totals on the graph).
"""

from __future__ import annotations

import os

from ..diagnostics import Diagnostic
from ..ops.base import fmt_shape, numel
from ..units import si

BYTES_PER_ELEMENT = 4  # float32
EXPORT_BATCH = 2  # the ONNX example's batch: torch.export specialises a batch axis of 1


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


def example_bytes(graph, batch: int) -> int:
    """Bytes of an example input of ``batch`` samples at float32 (what an export traces)."""
    return batch * numel(graph.graph["input"]) * BYTES_PER_ELEMENT


def module_fits(graph, budget: int | None = None, severity: str = "error",
                example_batch: int = 0) -> Diagnostic | None:
    """None if the module's parameters (and, for an export, its example input of
    ``example_batch`` samples and the file's copy of the parameters) fit in ``budget``
    bytes (default: the memory available now), else a diagnostic (E0404, or W0401
    as a warning) that names the numbers and points at the largest part."""
    budget = memory_available() if budget is None else budget
    weights = parameter_bytes(graph) * (2 if example_batch else 1)
    example = example_bytes(graph, example_batch)
    need = weights + example
    if budget is None or need <= budget:
        return None
    error = severity == "error"
    count = graph.graph["params"] + graph.graph["buffers"]
    if example > weights:
        data = graph.nodes["input"]
        label = f"an input of {fmt_shape(graph.graph['input'])}"
        notes = (f"the example input is {example_batch} x {fmt_shape(graph.graph['input'])} "
                 f"at float32: {si(example, 'B')}",)
        help = "export at a smaller --input; the batch axis of the file is dynamic either way"
    else:
        layers = [(d["params"] + d["buffers"], node) for node, d in graph.nodes(data=True)]
        size, largest = max(layers)
        data = graph.nodes[largest]
        label = f"the largest layer: {size:,} ({si(size * BYTES_PER_ELEMENT, 'B')})"
        notes = tuple(data["chain"])
        help = "use fewer or narrower layers" if error else \
            ("`check` and `compile -o` (source) work on it; building the module (to_module, "
             "compile --onnx or --torchscript) will be refused")
    what = (f"exporting needs {si(need, 'B')} for the module's {count:,} parameters and "
            f"buffers (twice: module and file) and an example input" if example_batch else
            f"the module's {count:,} parameters and buffers need {si(need, 'B')}")
    return Diagnostic("E0404" if error else "W0401",
                      f"{what}, more than the {si(budget, 'B')} of memory available",
                      data["span"], label, notes=notes, help=help, severity=severity)


def run(graph) -> list[Diagnostic]:
    """A warning when a module built from this graph would not fit in memory."""
    found = module_fits(graph, severity="warning")
    return [found] if found else []
