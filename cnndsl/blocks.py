"""Block declarations, checked before any expansion, and the notes that name
block calls in diagnostics.

Blocks are expanded at compile time, so a block that calls itself, directly
or through others, can never finish: that is found here as a cycle in the
call graph (networkx), not by running into Python's recursion limit.
"""

from __future__ import annotations

import networkx as nx

from . import nodes as n
from .diagnostics import Diagnostic
from .expressions import POISON, show_value
from .ops import NAMES


def collect_blocks(program: n.Program) -> tuple[dict[str, n.Block], list[Diagnostic]]:
    """The program's blocks by name, and the errors in their declarations."""
    blocks: dict[str, n.Block] = {}
    found: list[Diagnostic] = []
    for b in program.blocks:
        if b.name in blocks:
            first = blocks[b.name]
            found.append(Diagnostic("E0210", f"block `{b.name}` is defined twice", b.name_span,
                                    "defined again here",
                                    notes=(f"first defined at {first.name_span}",)))
        elif b.name in NAMES:
            found.append(Diagnostic("E0210", f"block `{b.name}` has the name of a built-in layer",
                                    b.name_span, help="rename the block"))
        else:
            blocks[b.name] = b
        seen = set()
        for prm in b.params:
            if prm.name in seen:
                found.append(Diagnostic("E0210", f"parameter `{prm.name}` of block `{b.name}` is "
                                        "declared twice", prm.span))
            seen.add(prm.name)
    return blocks, found


def recursion_errors(blocks: dict[str, n.Block]) -> list[Diagnostic]:
    """One E0208 per cycle of blocks calling each other."""
    calls = nx.DiGraph()
    for b in blocks.values():
        calls.add_node(b.name)
        for layer in layers_in(b.body):
            if layer.name in blocks:
                calls.add_edge(b.name, layer.name, span=layer.name_span)
    found = []
    # One cycle per strongly connected component: listing every simple
    # cycle (nx.simple_cycles) takes exponential time on blocks that all
    # call each other.
    for component in sorted(nx.strongly_connected_components(calls), key=min):
        start = min(component)
        if len(component) == 1 and not calls.has_edge(start, start):
            continue
        cycle = [u for u, _ in nx.find_cycle(calls.subgraph(component), start)]
        cycle = cycle[cycle.index(min(cycle)):] + cycle[:cycle.index(min(cycle))]
        path = cycle + [cycle[0]]
        span = calls.edges[path[-2], path[-1]]["span"]
        text = " -> ".join(f"`{c}`" for c in path)
        msg = (f"block `{cycle[0]}` calls itself" if len(cycle) == 1
               else f"blocks call each other in a cycle: {text}")
        found.append(Diagnostic("E0208", msg, span, "recursive call",
                                help="blocks are expanded at compile time; use `repeat` or `for`"))
    return found


def layers_in(body):
    """Every Layer statement in a body, at any depth."""
    for s in body:
        if isinstance(s, n.Layer):
            yield s
        elif isinstance(s, (n.Stage, n.Repeat, n.For)):
            yield from layers_in(s.body)
        elif isinstance(s, n.Merge):
            for p in s.paths:
                yield from layers_in(p.body)
        elif isinstance(s, n.If):
            yield from layers_in(s.then)
            yield from layers_in(s.orelse)


# ------------------------------------------------------- notes on block calls

LABEL_WIDTH = 60  # a block call's label in the table, the diagram and print(model)


def call_label(name: str, positional: list, keywords: dict) -> str:
    """`vgg_block(2, 64)`: a block call with the values its arguments had, so five
    calls of `vgg_block(n, c)` in a loop read as what they build."""
    def show(v) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, str):  # as the spec writes it; displays escape what is unprintable
            v = v if len(v) <= 40 else v[:37] + "..."
            return f'"{v}"' if '"' not in v else repr(v)
        if isinstance(v, (tuple, list)) and len(v) <= 8:
            inner = ", ".join(map(show, v))
            return f"({inner},)" if len(v) == 1 else f"({inner})"
        return show_value(v, 24)

    args = [show(v) for v in positional] + [f"{k}={show(v)}" for k, v in keywords.items()]
    text = f"{name}({', '.join(args)})"
    return text if len(text) <= LABEL_WIDTH else text[:LABEL_WIDTH - 4] + "...)"


def call_values(s: n.Layer, block: n.Block, env: dict) -> str:
    """` with c = 64, stride = 2` when a call's arguments are not all literals,
    so a note says which values the failing call had."""
    def literal(e) -> bool:
        return isinstance(e, n.Const) or isinstance(e, n.Seq) and all(map(literal, e.items))

    if all(literal(a.value) for a in s.args):
        return ""
    shown = []
    for prm in block.params:
        v = env.get(prm.name)
        if v is not POISON:
            shown.append(f"{prm.name} = {show_value(v, 40)}")
    return " with " + ", ".join(shown) if shown else ""


def shortened(chain: tuple, keep: int = 3) -> tuple:
    """The innermost and outermost calls of a long chain, the middle counted."""
    if len(chain) <= 2 * keep + 1:
        return chain
    middle = len(chain) - 2 * keep
    return chain[:keep] + (f"... and {middle} more enclosing block calls",) + chain[-keep:]
