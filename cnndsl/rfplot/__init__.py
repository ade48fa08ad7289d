"""Pictures of the receptive field: where on the input a unit looks, how the
field grows with depth, and the part of it that matters (the effective field).

- :func:`~cnndsl.rfplot.figures.field_figure`: the fields of chosen layers on
  the input (figures.py; which layers and units: layers.py);
- :func:`~cnndsl.rfplot.growth.growth_figure`: field size and stride against
  depth for several networks (growth.py);
- :func:`~cnndsl.rfplot.effective.effective_figure`: the effective field from
  gradients (effective.py, the only part that imports torch);
- :func:`rf_plot`: any of them, for notebooks (``Network.rf_plot``).

matplotlib draws on an Agg canvas without pyplot, so nothing global changes.

    python -m cnndsl.rfplot --docs     # redraw docs/images/rf/ (docs/receptive-field.md)
"""

from __future__ import annotations

from pathlib import Path

from .figures import field_figure, figure_bytes, load_image
from .growth import growth_figure
from .layers import default_layers, resolve, units, with_field

FORMATS = ("png", "svg", "pdf")


def rf_plot(net, layers=None, *, unit=None, image=None, plot: str = "field", others=(),
            effective: bool = False, samples: int = 16, seed: int = 0):
    """The figure `cnndsl rf` draws, for notebooks (shown inline).

    ``plot="field"``: the fields of ``layers`` (names as ``--layer`` takes them;
    default the last layer of each stage) for ``unit`` of the last of them, on
    ``image`` (a path or an array; default a checkerboard); ``effective=True``
    adds the effective field (needs torch). ``plot="growth"``: this network and
    ``others`` on one growth chart.
    """
    if plot == "growth":
        return growth_figure([net, *others])
    if plot != "field":
        raise ValueError(f"plot must be 'field' or 'growth', got {plot!r}")
    nodes = resolve(net, [layers] if isinstance(layers, str) else layers)
    if not nodes:
        raise ValueError(f"network `{net.name}` has no layer with a receptive field to draw")
    chosen = units(net, nodes, unit)
    if isinstance(image, (str, Path)):
        image = load_image(image, net.input_shape)
    if effective:
        from .effective import effective_figure
        return effective_figure(net, nodes, chosen, image, samples, seed)
    return field_figure(net, nodes, chosen, image)


__all__ = ["FORMATS", "default_layers", "field_figure", "figure_bytes", "growth_figure",
           "load_image", "resolve", "rf_plot", "units", "with_field"]
