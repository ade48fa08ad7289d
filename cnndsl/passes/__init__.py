"""Analysis passes over the layer graph, run in order after elaboration.

Each pass asks every node's op for its rule and writes the result into the
node's data (as torch.fx passes write ``node.meta``). A pass returns the
warnings it found.
"""

from __future__ import annotations

from . import budget, cost, lint, memory, reach, receptive_field

PASSES = (cost.run, receptive_field.run, memory.run, lint.run, reach.run, budget.run)


def run_all(graph) -> list:
    warnings = list(graph.graph.get("warnings", ()))  # the elaborator's (W0305)
    for p in PASSES:
        warnings += p(graph) or []
    return warnings
