"""The field on the input, drawn with matplotlib (Agg canvas, no pyplot).

The input is the given image (resized to the spec's input) or a light
checkerboard of pixels. For each chosen layer: the box of the pixels its
unit sees, in its own colour; the part of that box outside the image
(padding), hatched; the centres of the layer's units around it, one stride
apart (its stride grid); the centre of the unit's field. Boxes are drawn
largest first so every one stays visible. Artists carry gids (``rf:NODE``,
``padding:NODE:K``, ``grid:NODE``, ``centre:NODE``, ``image``), which the
svg keeps as ids and the tests read.
"""

from __future__ import annotations

import io

from .layers import _centre, _pair

# Okabe & Ito's colour-blind safe palette (2008), one colour a layer.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442",
           "#000000")
GRID_REACH = 3  # stride grid: centres of the units up to this many units from the chosen one
# What makes the svg the same bytes on every run: ids salted alike, text kept as
# text (no glyph ids), no date (matplotlib's rcParams and savefig metadata).
STABLE_RC = {"svg.hashsalt": "cnndsl-rf", "svg.fonttype": "none", "pdf.compression": 6}
NO_DATE = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}, "png": {}}


def new_figure(**kwargs):
    """A Figure on the Agg canvas, outside pyplot: nothing global changes and
    a notebook shows it (``_repr_png_``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    class FieldFigure(Figure):
        def _repr_png_(self):
            return figure_bytes(self, "png")

    fig = FieldFigure(layout="constrained", **kwargs)
    FigureCanvasAgg(fig)
    return fig


def figure_bytes(fig, fmt: str) -> bytes:
    """The figure as png, svg or pdf; svg and pdf byte-identical from run to run."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(STABLE_RC):
        fig.savefig(buffer, format=fmt, dpi=110, metadata=NO_DATE[fmt], bbox_inches="tight",
                    pad_inches=0.15)
    return buffer.getvalue()


def _input_picture(ax, shape, image):
    """The input: ``image`` (an array already at the input's size), or a
    checkerboard whose squares are a power of two pixels (7 to 14 per side)."""
    import numpy as np

    h, w = shape
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    if image is not None:
        ax.imshow(image, extent=extent, cmap="gray" if image.ndim == 2 else None,
                  interpolation="nearest", zorder=0)
        return
    cell = 1
    while max(h, w) / (cell * 2) >= 7:
        cell *= 2
    rows, cols = np.indices((h, w))
    board = ((rows // cell + cols // cell) % 2) * 0.05 + 0.93
    ax.imshow(board, extent=extent, cmap="gray", vmin=0, vmax=1, interpolation="nearest",
              zorder=0)


def _box(span):
    """(x, y, width, height) of a span ((top, bottom), (left, right)), pixel edges."""
    (top, bottom), (left, right) = span
    # A unit that sees nothing on an axis (a transposed conv with gaps) has no extent.
    return (float(left) - 0.5, float(top) - 0.5, float(max(0, right - left + 1)),
            float(max(0, bottom - top + 1)))


def _outside(box, shape) -> list[tuple]:
    """The parts of ``box`` outside the image (padding), as up to four boxes."""
    x, y, w, h = box
    x0, y0, x1, y1 = -0.5, -0.5, shape[1] - 0.5, shape[0] - 0.5
    out = []
    if y < y0:
        out.append((x, y, w, min(y0, y + h) - y))
    if y + h > y1:
        top = max(y, y1)
        out.append((x, top, w, y + h - top))
    mid_top, mid_bottom = max(y, y0), min(y + h, y1)
    if mid_bottom > mid_top:
        if x < x0:
            out.append((x, mid_top, min(x0, x + w) - x, mid_bottom - mid_top))
        if x + w > x1:
            left = max(x, x1)
            out.append((left, mid_top, x + w - left, mid_bottom - mid_top))
    return [b for b in out if b[2] > 0 and b[3] > 0]


def draw_fields(ax, net, nodes: list[str], chosen: dict, image=None) -> None:
    """The field of ``chosen[node]`` for every node on ``ax``, largest first so
    every box stays visible. Artists carry gids: ``rf:NODE`` (the box),
    ``padding:NODE:K``, ``grid:NODE``, ``image``."""
    from matplotlib.patches import Rectangle

    g = net.graph.nodes
    shape = net.input_shape[1:]
    _input_picture(ax, shape, image)
    ax.images[-1].set_gid("image")
    ax.add_patch(Rectangle((-0.5, -0.5), shape[1], shape[0], fill=False, edgecolor="0.35",
                           linewidth=0.8, zorder=1, gid="input"))
    lows, highs = [-0.5, -0.5], [shape[0] - 0.5, shape[1] - 0.5]
    order = sorted(range(len(nodes)), key=lambda i: -g[nodes[i]]["rf"].size[0] * g[nodes[i]]["rf"].size[1])
    drawn = set()
    for rank, i in enumerate(order):
        node, colour = nodes[i], COLOURS[i % len(COLOURS)]
        rf, unit = g[node]["rf"], chosen[node]
        box = _box(rf.span(unit))
        # The same box again (a layer that keeps the field, as an upsampling does): dashed,
        # so the one under it shows through the gaps.
        style = (0, (3, 3)) if box in drawn else "solid"
        drawn.add(box)
        lows = [min(lows[0], box[1]), min(lows[1], box[0])]
        highs = [max(highs[0], box[1] + box[3]), max(highs[1], box[0] + box[2])]
        z = 2 + rank
        ax.add_patch(Rectangle(box[:2], box[2], box[3], fill=True, facecolor=colour, alpha=0.10,
                               edgecolor="none", zorder=z))
        ax.add_patch(Rectangle(box[:2], box[2], box[3], fill=False, edgecolor=colour,
                               linewidth=2.0, linestyle=style, zorder=z + 0.5, gid=f"rf:{node}",
                               label=f"{node}  field {_pair(rf.size)}, stride {_pair(rf.stride)}, "
                                     f"unit ({unit[0]}, {unit[1]})"))
        for k, part in enumerate(_outside(box, shape)):
            ax.add_patch(Rectangle(part[:2], part[2], part[3], fill=False, hatch="///",
                                   edgecolor=colour, linewidth=0, alpha=0.55, zorder=z + 0.2,
                                   gid=f"padding:{node}:{k}"))
        _stride_grid(ax, net, node, unit, box, colour, z + 0.7)
    margin = 0.03 * max(h - l for h, l in zip(highs, lows))
    ax.set_xlim(lows[1] - margin, highs[1] + margin)
    ax.set_ylim(highs[0] + margin, lows[0] - margin)
    ax.set_aspect("equal")
    ax.set_xlabel("input column (pixels)")
    ax.set_ylabel("input row (pixels)")


def _stride_grid(ax, net, node, unit, box, colour, z) -> None:
    """Centres of the layer's units near ``unit`` that fall in its box: one
    stride apart, so the grid shows where the neighbouring fields sit."""
    import numpy as np

    data = net.graph.nodes[node]
    rf, size = data["rf"], data["shape"][1:]
    axes = []
    for axis, (lo, extent) in enumerate(((box[1], box[3]), (box[0], box[2]))):
        near = range(max(0, unit[axis] - GRID_REACH), min(size[axis], unit[axis] + GRID_REACH + 1))
        centres = {float(sum(rf.span((u, u))[axis])) / 2 for u in near}  # exact, any period
        axes.append(sorted(c for c in centres if lo <= c <= lo + extent))
    rows, cols = np.meshgrid(axes[0], axes[1], indexing="ij")
    ax.plot(cols.ravel(), rows.ravel(), linestyle="none", marker="o", markersize=2.2,
            color=colour, alpha=0.8, zorder=z, gid=f"grid:{node}")
    centre = _centre(rf, unit)
    ax.plot([float(centre[1])], [float(centre[0])], linestyle="none", marker="+", markersize=9,
            markeredgewidth=1.6, color=colour, zorder=z + 0.1, gid=f"centre:{node}")


def field_figure(net, nodes: list[str], chosen: dict, image=None):
    """The input with the fields of ``chosen`` units, and the legend beside it."""
    fig = new_figure(figsize=(10.0, 6.0))
    picture, side = fig.add_gridspec(1, 2, width_ratios=(1.45, 1))
    ax = fig.add_subplot(picture)
    draw_fields(ax, net, nodes, chosen, image)
    c, h, w = net.input_shape
    fig.suptitle(f"{net.name}: the receptive field of one unit of each layer, on the "
                 f"{c}x{h}x{w} input", fontsize=10)
    side_legend(fig.add_subplot(side), ax, "layer: field, stride, unit")
    return fig


def side_legend(holder, ax, title: str) -> None:
    """The legend of ``ax`` on the empty axes ``holder``, with a key to the marks."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    key = [Patch(facecolor="white", edgecolor="0.3", hatch="///"),
           Line2D([], [], linestyle="none", marker="o", markersize=2.5, color="0.3"),
           Line2D([], [], linestyle="none", marker="+", markersize=8, color="0.3")]
    holder.axis("off")
    holder.legend(handles + key, labels + ["padding: outside the image",
                                           "centres of the layer's units (its stride)",
                                           "centre of the unit's field"],
                  loc="upper left", fontsize=8, frameon=False, title=title,
                  title_fontsize=9, alignment="left")



def load_image(path, shape, max_bytes: int = 64 * 1024 * 1024):
    """The image at ``path`` as an array resized to the input's height and width
    (grey for one channel). ValueError if it cannot be read as an image."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from ..files import TooLarge, read_limited

    try:
        data = read_limited(path, max_bytes)  # OSError (missing, a directory): as for a spec
    except TooLarge as err:
        raise ValueError(str(err)) from None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img = img.convert("L" if shape[0] == 1 else "RGB")
            return np.asarray(img.resize((shape[2], shape[1]), Image.Resampling.BILINEAR))
    except UnidentifiedImageError:
        raise ValueError(f"cannot read {str(path)!r} as an image: not a format Pillow "
                         f"reads (png, jpeg, gif, bmp, tiff, webp...)") from None
    except (Image.DecompressionBombError, OSError, ValueError) as err:  # too large, truncated
        raise ValueError(f"cannot read {str(path)!r} as an image: {err}") from None
