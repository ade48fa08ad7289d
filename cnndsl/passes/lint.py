"""Warnings about specs that are valid but probably not what was meant.

- W0302: a pool whose windows skip pixels: a stride longer than the
  window leaves the rows and columns between windows unread (``k=1, s=2``
  reads every other one), and windows can stop short of the input's last
  rows or columns. With output size floor((n + p + p_end - k) / s) + 1 (the seed's
  rule, p_end the padding after the input: p unless asymmetric), the
  windows cover the padded input up to (out - 1) * s + k; the remaining
  (n + p + p_end - k) mod s positions are never read, and those that are
  not padding are real pixels thrown away. Ceil mode covers them.
- W0303: a dropout with no learnable layer after it. Dropout regularises
  the weights that read its output (Srivastava et al., 2014); with none,
  it only adds noise to the result while training. The same holds for
  every op that acts only while training (``training_only``): stochastic
  depth on the last residual branch, with no head after it, would zero
  whole outputs. In EfficientNet and ConvNeXt more blocks or a classifier
  follow every one, so they do not warn.

Needs the cost pass (``params`` on every node).
"""

from __future__ import annotations

from ..diagnostics import Diagnostic
from ..ops.base import GLOBAL, same_padding


def _discarded(n: int, k: int, s: int, p: int, p_end: int) -> int:
    """Real (non-padding) pixels at the end of an axis that no window reads."""
    unread = (n + p + p_end - k) % s
    return max(0, unread - p_end)  # the last p_end unread positions are padding


def unread_pixels(window, axis: int, n: int) -> int:
    """Real pixels at the end of an input of length ``n`` along ``axis`` (0: height,
    1: width) that no window of ``window`` reads (0 with ceil mode, which covers them);
    cnndsl/input_sizes.py asks it which input sizes a pool takes whole."""
    if window.ceil:
        return 0
    k, s = window.k[axis], window.s[axis]
    before, after = (same_padding(n, k, s) if window.same else
                     (window.p[axis], window.end[axis]))
    return _discarded(n, k, s, before, after)


def _pool_warning(data: dict, shape_in: tuple) -> Diagnostic | None:
    window = data["op"].window(data["args"])
    if window == GLOBAL or window.ceil or len(shape_in) != 3:
        return None
    lost = [unread_pixels(window, axis, n) for axis, n in enumerate(shape_in[1:])]
    # A stride longer than the window leaves gaps between windows, whatever the size.
    gaps = [max(0, window.s[axis] - window.k[axis]) if n > 1 else 0
            for axis, n in enumerate(shape_in[1:])]
    # an unread tail no longer than a gap is the same pattern going on, not news
    lost = [0 if gap and count <= gap else count for count, gap in zip(lost, gaps)]
    if not any(lost) and not any(gaps):
        return None
    parts = []
    if any(gaps):
        axes = [name for gap, name in zip(gaps, ("rows", "columns")) if gap]
        skip = {gap for gap in gaps if gap}
        strides = {window.s[axis] for axis, gap in enumerate(gaps) if gap}
        parts.append(f"skips {skip.pop()} of every {strides.pop()} {' and '.join(axes)}"
                     if len(skip) == len(strides) == 1 else f"skips {' and '.join(axes)} "
                     "between its windows")
    if any(lost):
        parts.append("discards " + " and ".join(
            f"the last {axis}" if count == 1 else f"the last {count} {axis}s"
            for count, axis in zip(lost, ("row", "column")) if count))
    c, h, w = shape_in
    return Diagnostic(
        "W0302", f"`{data['op'].name}` {' and '.join(parts)} of its {h}x{w} input",
        data["span"], "no window reaches them", notes=tuple(data["chain"]),
        help=("a stride longer than the kernel leaves pixels between windows: make the "
              "kernel at least the stride" if any(gaps) and not any(lost) else
              "pad the input, pick a size the stride divides, or set `ceil=true`"),
        severity="warning")


def _learnable_after(graph) -> dict:
    """Node -> whether some layer with parameters reads its output, directly
    or through others; one reverse walk, so a million dropouts cost O(n)."""
    after: dict = {}
    for node in reversed(list(graph.nodes)):  # spec order is a topological order
        after[node] = any(graph.nodes[s]["params"] or after[s] for s in graph.successors(node))
    return after


def _dropout_warning(data: dict) -> Diagnostic:
    return Diagnostic(
        "W0303", f"`{data['op'].name}` after the last learnable layer", data["span"],
        "nothing learnable reads its output", notes=tuple(data["chain"]),
        help="remove it, or move it before the last layer with weights", severity="warning")


def run(graph) -> list[Diagnostic]:
    """Warnings for pools that discard pixels and dropouts that regularise nothing."""
    warnings: list[Diagnostic] = []
    seen = set()
    learnable_after = None
    for node, data in graph.nodes(data=True):
        op = data["op"]
        found = None
        if op.warn_unread_pixels and data["inputs"]:
            found = _pool_warning(data, graph.nodes[data["inputs"][0]]["shape"])
        elif op.training_only:
            if learnable_after is None:
                learnable_after = _learnable_after(graph)
            if not learnable_after[node]:
                found = _dropout_warning(data)
        # A block called many times would repeat the same warning per call;
        # the chain of calls tells the calls apart, so it is part of the key.
        if found is not None and (found.message, found.span, found.notes) not in seen:
            seen.add((found.message, found.span, found.notes))
            warnings.append(found)
    return warnings
