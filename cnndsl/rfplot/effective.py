"""The effective receptive field (Luo, Li, Urtasun and Zemel, "Understanding
the Effective Receptive Field in Deep Convolutional Neural Networks",
NeurIPS 2016): how much each input pixel actually moves a unit.

For ``samples`` draws of fresh random weights (each layer's own torch
initialisation, seeded) and a random normal input, the gradient of one
output unit (summed over its channels) with respect to the input; the
heatmap is the mean of its absolute value, summed over input channels.
The network runs in eval mode (batch norm as initialised, dropout off).
Its mass concentrates in a small, roughly Gaussian region in the middle of
the theoretical field: the fraction of the field's pixels on the image
that hold ``mass`` (95%) of it says how small.

Work is bounded by steps: one forward pass per sample (every chosen layer
read from it) and one backward pass per sample and layer. Needs torch
(imported here only).
"""

from __future__ import annotations

from dataclasses import dataclass

MASS = 0.95
_CAPTURE: dict = {"want": frozenset(), "got": {}}  # filled by the probe during a forward


def _probe(node: str, tensor) -> None:
    """Called by the probed module after every layer: keep the chosen ones."""
    if node in _CAPTURE["want"]:
        _CAPTURE["got"][node] = tensor


@dataclass(frozen=True)
class Effective:
    """The effective field of one unit of ``node``."""

    node: str
    unit: tuple[int, int]
    heat: object  # numpy array, the input's height x width: mean |gradient|
    fraction: float  # of the field's pixels on the image holding `mass` of the gradient
    pixels: int  # how many pixels those are
    field_pixels: int  # pixels of the theoretical field on the image
    threshold: float  # the least heat among those pixels (the contour drawn)
    forwards: int  # forward passes run (one per sample)
    backwards: int  # backward passes run for this node (one per sample)


def effective(net, nodes: list[str], chosen: dict, samples: int = 16, seed: int = 0,
              mass: float = MASS) -> list[Effective]:
    """The effective field of ``chosen[node]`` for every node, averaged over ``samples``."""
    from ..extras import require
    require("torch", "the effective receptive field")
    import numpy as np
    import torch

    from ..backends.torch_module import build_module
    from ..diagnostics import CnnError
    from ..passes.budget import module_fits

    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    too_big = module_fits(net.graph)  # as Network.to_module: refuse before torch allocates
    if too_big is not None:
        raise CnnError([too_big], net.sources)
    module = build_module(net.graph, probe=_probe).eval().requires_grad_(False)  # x's only
    c, h, w = net.input_shape
    heats = {v: torch.zeros(h, w, dtype=torch.float64) for v in nodes}
    forwards = 0
    with torch.random.fork_rng(devices=[]):
        for sample in range(samples):
            torch.manual_seed(seed * 1_000_003 + sample)
            for m in module.modules():  # fresh weights, as each layer initialises itself
                if m is not module and hasattr(m, "reset_parameters"):
                    m.reset_parameters()
            x = torch.randn(1, c, h, w, requires_grad=True)
            _CAPTURE["want"], _CAPTURE["got"] = frozenset(nodes), {}
            try:
                module(x)
                got = dict(_CAPTURE["got"])
            finally:
                _CAPTURE["want"], _CAPTURE["got"] = frozenset(), {}
            forwards += 1
            unreached = [v for v in nodes if v not in got]
            if unreached:  # an auxiliary head, say: the module runs in eval mode
                raise ValueError(f"`{unreached[0]}` runs only in training mode; choose a "
                                 f"layer that inference runs")
            for i, v in enumerate(nodes):
                unit = chosen[v]
                out = got[v][0, :, unit[0], unit[1]].sum()
                (grad,) = torch.autograd.grad(out, x, retain_graph=i + 1 < len(nodes))
                heats[v] += grad[0].abs().sum(0).double()
    out = []
    for v in nodes:
        heat = (heats[v] / samples).numpy()
        out.append(_measure(net, v, chosen[v], heat, mass, forwards, np))
    return out


def _measure(net, node, unit, heat, mass, forwards, np) -> Effective:
    """How few of the field's pixels hold ``mass`` of the gradient inside it."""
    rf = net.graph.nodes[node]["rf"]
    h, w = heat.shape
    (top, bottom), (left, right) = rf.span(unit)
    rows = slice(max(0, int(np.ceil(top))), min(h, int(np.floor(bottom)) + 1))
    cols = slice(max(0, int(np.ceil(left))), min(w, int(np.floor(right)) + 1))
    inside = np.sort(heat[rows, cols].ravel())[::-1]
    field_pixels = inside.size
    total = inside.sum()
    if total <= 0 or field_pixels == 0:  # every gradient vanished (dead units): nothing holds the mass
        return Effective(node, unit, heat, 0.0, 0, field_pixels, 0.0, forwards, forwards)
    needed = int(np.searchsorted(np.cumsum(inside), mass * total) + 1)
    needed = min(needed, field_pixels)
    return Effective(node, unit, heat, needed / field_pixels, needed, field_pixels,
                     float(inside[needed - 1]), forwards, forwards)


def describe(e: Effective, mass: float = MASS) -> str:
    """One line for the terminal."""
    if not e.pixels:
        return (f"{e.node} unit ({e.unit[0]}, {e.unit[1]}): no gradient reached the input in "
                f"{e.forwards} samples (the unit was never active); try more --samples")
    return (f"{e.node} unit ({e.unit[0]}, {e.unit[1]}): {mass:.0%} of the gradient in "
            f"{e.pixels:,} of the field's {e.field_pixels:,} pixels on the image "
            f"({e.fraction:.1%})")


def effective_figure(net, nodes: list[str], chosen: dict, image=None, samples: int = 16,
                     seed: int = 0, mass: float = MASS):
    """The theoretical fields (left) beside a heatmap of each effective field,
    its theoretical box outlined and the region holding ``mass`` contoured.
    The results are on the figure as ``fig.effective``."""
    from matplotlib.colors import PowerNorm
    from matplotlib.patches import Rectangle

    from .figures import COLOURS, _box, draw_fields, new_figure

    results = effective(net, nodes, chosen, samples, seed, mass)
    per_row = min(3, len(nodes))
    rows = -(-len(nodes) // per_row)
    fig = new_figure(figsize=(5.2 + 3.4 * per_row, max(4.6, 3.6 * rows)))
    grid = fig.add_gridspec(rows, per_row + 2)
    ax = fig.add_subplot(grid[:, :2])
    draw_fields(ax, net, nodes, chosen, image)
    ax.set_title(f"{net.name}: theoretical fields", fontsize=10)
    _, h, w = net.input_shape
    for i, e in enumerate(results):
        panel = fig.add_subplot(grid[i // per_row, 2 + i % per_row])
        colour = COLOURS[i % len(COLOURS)]
        panel.set_facecolor("0.92")  # padding: outside the image, no gradient
        panel.imshow(e.heat, extent=(-0.5, w - 0.5, h - 0.5, -0.5), cmap="magma",
                     norm=PowerNorm(0.5, vmin=0), interpolation="nearest", gid=f"heat:{e.node}")
        if e.pixels:
            panel.contour(range(w), range(h), e.heat, levels=[e.threshold], colors="white",
                          linewidths=0.6)  # at pixel centres: row i is y = i
        box = _box(net.graph.nodes[e.node]["rf"].span(e.unit))
        panel.add_patch(Rectangle(box[:2], box[2], box[3], fill=False, edgecolor=colour,
                                  linewidth=2.0, gid=f"rf:{e.node}"))
        margin = 0.04 * max(box[2], box[3])
        panel.set_xlim(box[0] - margin, box[0] + box[2] + margin)
        panel.set_ylim(box[1] + box[3] + margin, box[1] - margin)
        panel.set_aspect("equal")
        panel.tick_params(labelsize=7)
        found = (f"{mass:.0%} of gradient in {e.fraction:.1%} of the field" if e.pixels
                 else "no gradient reached the input")
        panel.set_title(f"{e.node}\n{found}", fontsize=8, color=colour)
    fig.suptitle(f"{net.name}: effective receptive fields, the mean |gradient| of one unit over "
                 f"{samples} random weights and inputs\n(colour: its square root; white line: "
                 f"around {mass:.0%} of the mass; box: the theoretical field)", fontsize=10)
    fig.effective = results
    return fig
