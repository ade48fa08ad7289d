"""The growth chart: receptive field size and stride against depth, on a log
scale, for one or several networks on one chart.

Depth counts the layers with MACs (convolutions: each op's own cost rule,
fvcore's convention) on the longest path from the input to a layer; at each
depth the chart shows the largest field any layer there reaches (pools add
no depth but grow the field), and that layer's stride.
"""

from __future__ import annotations

from .figures import COLOURS, new_figure
from .layers import with_field


def growth(net) -> list[tuple[int, str, int, object]]:
    """(depth, node, size, stride) of the largest field at each depth, where depth
    counts the layers with MACs (convolutions) on the longest path to a layer."""
    g = net.graph
    depth, best = {}, {}
    for v in g.nodes:
        before = max((depth[u] for u in g.predecessors(v)), default=0)
        depth[v] = before + (1 if g.nodes[v].get("macs", 0) > 0 else 0)
    for v in with_field(net):
        rf = g.nodes[v]["rf"]
        key = (max(rf.size), max(rf.stride))
        if depth[v] not in best or key >= best[depth[v]][0]:
            best[depth[v]] = (key, v)
    return [(d, v, k[0], k[1]) for d, (k, v) in sorted(best.items())]


def growth_figure(nets):
    """Field size (solid) and stride (dashed) against depth, log scale, one colour a network."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    fig = new_figure(figsize=(10.5, 5.6))
    ax = fig.add_subplot()
    names = [n.name for n in nets]
    inputs = {}
    for i, net in enumerate(nets):
        points = growth(net)
        if not points:
            continue
        colour = COLOURS[i % len(COLOURS)]
        label = net.name if names.count(net.name) == 1 else f"{net.name} ({net.graph.graph['file']})"
        xs = [p[0] for p in points]
        ax.plot(xs, [p[2] for p in points], color=colour, marker="o", markersize=3,
                linewidth=1.8, label=f"{label}: field", gid=f"size:{i}")
        ax.plot(xs, [float(p[3]) for p in points], color=colour, linestyle="--",
                linewidth=1.2, label=f"{label}: stride", gid=f"stride:{i}")
        inputs.setdefault(max(net.input_shape[1:]), []).append(label)
    for size, who in sorted(inputs.items()):
        ax.axhline(size, color="0.5", linewidth=0.8, linestyle=":", zorder=0)
        ax.annotate(f"input {size} px ({', '.join(who)})", (1, size), xycoords=("axes fraction",
                    "data"), xytext=(-4, -11), textcoords="offset points", fontsize=8,
                    color="0.35", ha="right")
    ax.set_yscale("log", base=2)
    ax.yaxis.set_major_locator(LogLocator(base=2, numticks=24))  # every power of two
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("depth: convolutions on the longest path from the input")
    ax.set_ylabel("input pixels (log scale)")
    ax.set_title("Receptive field size and stride against depth (largest field at each depth)",
                 fontsize=10)
    ax.grid(True, which="major", linewidth=0.4, color="0.85")
    fig.legend(loc="outside right upper", fontsize=8, frameon=False,
               title="solid: field, dashed: stride", title_fontsize=8)
    return fig
