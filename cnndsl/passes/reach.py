"""Layers whose result reaches no output: computed, counted and run for nothing.

After ``-> x ... from x`` the layers in between feed nothing, yet they
count in the parameters and MACs and run in the compiled forward. Each
dead branch (dead layers connected to each other) is one warning, at its
first layer, naming how many layers it holds and the last of them.
"""

from __future__ import annotations

import networkx as nx

from ..diagnostics import Diagnostic
from ..outputs import declared


def live_layers(graph) -> set:
    """The outputs and every layer they read, directly or not: one walk back through
    spec order (a topological order: a layer's readers come after it)."""
    live = {node for _, node, _ in declared(graph)}
    for node, data in reversed(list(graph.nodes(data=True))):
        if node in live:
            live.update(data["inputs"])  # its edges in, without a view of them
    return live


def run(graph) -> list[Diagnostic]:
    live = live_layers(graph)
    dead = [v for v in graph.nodes if v not in live and v != "input"]
    if not dead:
        return []
    warnings = []
    for branch in nx.weakly_connected_components(graph.subgraph(dead)):
        ordered = [v for v in dead if v in branch]  # spec order
        first, last = graph.nodes[ordered[0]], ordered[-1]
        more = len(ordered) - 1
        warnings.append(Diagnostic(
            "W0304", "these layers reach no output", first["span"],
            f"`{ordered[0]}`" + (f" and {more} more layer{'s' if more != 1 else ''}, "
                                 f"up to `{last}`," if more else "")
            + " computed and never used",
            notes=tuple(first["chain"]) + ("they still count in params and MACs and run in "
                                            "the compiled forward",),
            help="remove them, merge their result into a path, or make it an output with "
                 "`output NAME`", severity="warning"))
    return warnings
