"""The public entry points: load a spec, get a :class:`Network`."""

from __future__ import annotations

import numbers
import os
import reprlib
from pathlib import Path

from .diagnostics import CnnError, Diagnostic, Sources, Span, split_allowed
from .elaborate import DEFAULT_MAX_NODES, elaborate
from .expressions import too_large
from .files import DEFAULT_MAX_BYTES, TooLarge, read_limited, read_stream
from .parser import INT_LIMIT, max_tokens_for, parse
from .passes import run_all
from .passes.memory import DTYPE_BYTES


class Network:
    """A checked network: its layer graph with shapes and costs on every node.

    >>> net = loads("network tiny\\ninput [1, 8, 8]\\nconv(4, k=3) relu flatten linear(2)")
    >>> net.output_shape, net.params
    ((2,), 330)
    """

    def __init__(self, graph, sources: Sources, warnings: list[Diagnostic]):
        self.graph = graph
        self.sources = sources
        self.warnings = warnings
        self.allowed: list[Diagnostic] = []

    @property
    def name(self) -> str:
        return self.graph.graph["name"]

    @property
    def input_shape(self) -> tuple:
        return self.graph.graph["input"]

    @property
    def output_shape(self) -> tuple:
        """The shape of the main output (the first one an `output` statement names, else
        the last tensor)."""
        return self.graph.nodes[self.graph.graph["output"]]["shape"]

    @property
    def outputs(self) -> dict:
        """Name -> shape of every output the spec declares with `output` (``(training)``
        ones too), in order; ``{}`` for a spec with one unnamed output."""
        return {name: self.graph.nodes[node]["shape"]
                for name, node, _ in self.graph.graph["outputs"]}

    @property
    def params(self) -> int:
        return self.graph.graph["params"]

    def layers(self) -> list[str]:
        """Node ids in spec order (a topological order), the input excluded."""
        return [v for v in self.graph.nodes if v != "input"]

    def summary(self, depth: int | None = None, batch: int = 1) -> str:
        """The table `cnndsl check` prints: stages and blocks deeper than ``depth``
        folded into one row each; MACs and activation memory for ``batch`` samples."""
        from .report import table
        return table(self, depth, batch)

    def to_json(self) -> dict:
        from .report import to_json
        return to_json(self)

    def to_module(self, *, optimize: str | None = None):
        """A fresh ``torch.nn.Module`` whose submodules mirror the spec's stages and blocks.

        ``optimize="inference"`` folds batch norm into convolutions (eval only).

        >>> m = loads("network t\\ninput [1, 8, 8]\\nstage s { conv(4, k=3) relu }").to_module()
        >>> list(m.state_dict())
        ['s.conv_1.weight', 's.conv_1.bias']
        """
        from .extras import require
        require("torch", "Network.to_module()")
        from .passes.budget import module_fits
        too_big = module_fits(self.graph)  # refuse before torch allocates anything
        if too_big is not None:
            raise CnnError([too_big], self.sources)
        from .backends.torch_module import build_module
        module = build_module(self.graph)
        if optimize is None:
            return module
        from .backends.optimize import optimize as run
        return run(self.graph, module, optimize)

    def fold_batchnorm(self, module):
        """``module`` (trained, from :meth:`to_module`) with batch norm folded into its
        convolutions: a new module, eval only. Transfer and train first, fold last."""
        from .backends.optimize import fold_batchnorm
        return fold_batchnorm(self, module)

    def to_source(self, *, optimize: str | None = None) -> str:
        """Standalone PyTorch source of the module class (no cnndsl import needed)."""
        from .extras import require
        require("torch", "Network.to_source()")  # the generator asks nn.Module its names
        if optimize is None:
            from .backends.torch_codegen import generate
            return generate(self.graph).text
        from .backends.optimize import optimize_source
        return optimize_source(self.graph, self.to_module(), optimize).text

    def draw(self, format: str = "svg", *, depth: int | None = None, rankdir: str = "TB",
             show: tuple[str, ...] = ()) -> str | bytes:
        """The diagram: dot source or svg as text, png or pdf as bytes (svg/png/pdf need `dot`).

        >>> src = loads("network t\\ninput [1, 8, 8]\\nconv(4, k=3)").draw("dot")
        >>> src.startswith("digraph t")
        True
        """
        from .backends.graphviz_dot import DrawOptions, render, to_dot
        source = to_dot(self.graph, DrawOptions(depth=depth, rankdir=rankdir, show=tuple(show)))
        data = render(source, format)
        return data.decode("utf-8") if format in ("dot", "svg") else data

    def rf_plot(self, layers=None, *, unit=None, image=None, plot: str = "field", others=(),
                effective: bool = False, samples: int = 16, seed: int = 0):
        """A matplotlib Figure of the receptive field, shown inline in a notebook: the
        fields of ``layers`` (as `cnndsl rf --layer`; default the last layer of each
        stage) for ``unit`` of the last of them, on ``image``; ``plot="growth"`` with
        ``others`` on one chart; ``effective=True`` (needs torch) beside the effective
        field over ``samples`` draws. See docs/receptive-field.md.

        >>> fig = loads("network t\\ninput [1, 8, 8]\\nconv(4, k=3) conv(4, k=3)").rf_plot()
        >>> [p.get_width() for p in fig.axes[0].patches if p.get_gid() == "rf:conv_2"]
        [5.0]
        """
        from .rfplot import rf_plot
        return rf_plot(self, layers, unit=unit, image=image, plot=plot, others=others,
                       effective=effective, samples=samples, seed=seed)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """Jupyter shows a network as its diagram, collapsed to a size `dot` lays out
        quickly; text only where `dot` is missing, fails or is slow."""
        from .backends import graphviz_dot
        from .report import html_table
        bundle = {"text/plain": repr(self), "text/html": html_table(self)}
        svg = graphviz_dot.notebook_svg(self.graph)
        if svg is not None:
            bundle["image/svg+xml"] = svg
        return bundle

    def __repr__(self) -> str:
        from .ops.base import fmt_shape
        shape = fmt_shape(self.output_shape)
        return f"<Network {self.name}: {len(self.layers())} layers, {self.params:,} params -> {shape}>"


def read_spec(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, *,
              stream=None) -> tuple[str, str]:
    """(name, text) of the spec at ``path``, or read from the binary ``stream`` if given
    (`cnndsl check -`). At most ``max_bytes`` (E0405 past them), UTF-8 (E0103 if not);
    not a regular file (a FIFO, /dev/zero) or not there: OSError."""
    name = str(path)
    try:
        data = read_stream(stream, name, max_bytes) if stream is not None \
            else read_limited(name, max_bytes)
    except TooLarge:
        raise CnnError([Diagnostic("E0405", f"{name} is larger than the limit of "
                                   f"{max_bytes:,} bytes", None,
                                   help="raise the limit with --max-bytes (max_bytes= in "
                                        "cnndsl.load)")]) from None
    try:
        return name, data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start].decode("utf-8", "replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        shown = data.decode("utf-8", "replace")
        raise CnnError([Diagnostic("E0103", "the file is not valid UTF-8",
                                   Span(name, line, col, line, col + 1),
                                   f"byte 0x{data[err.start]:02x} here")],
                       Sources({name: shown})) from None


def loads(text: str, file: str = "<spec>", /, *, input_shape: tuple | None = None,
          max_nodes: int = DEFAULT_MAX_NODES, dtype: str = "float32",
          max_bytes: int = DEFAULT_MAX_BYTES, **params) -> Network:
    """Check spec text; raise :class:`CnnError` with every diagnostic if it is wrong.

    ``file`` names the text in diagnostics. Other keyword arguments set
    network parameters (integers and floats from numpy are fine).
    ``input_shape`` overrides the spec's input; ``dtype`` is the element type
    memory figures are counted in; ``max_nodes`` and ``max_bytes`` are the
    limits on layers and on the text's size (which also bounds its tokens).
    Arguments of the wrong type or out of range raise TypeError or
    ValueError naming the argument: they are mistakes in the calling
    program, not in the spec.
    """
    if not isinstance(text, str):
        raise TypeError(f"loads() takes the spec's text as a str, got {type(text).__name__}"
                        + (" (decode it first, or use cnndsl.load(path))"
                           if isinstance(text, (bytes, bytearray)) else ""))
    if not isinstance(file, str):
        raise TypeError(f"loads(): file must be a str naming the text, got {_shown(file)}")
    input_shape = _input_shape(input_shape)
    max_nodes = _positive("max_nodes", max_nodes)
    max_bytes = _positive("max_bytes", max_bytes)
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise (ValueError if isinstance(dtype, str) else TypeError)(
            f"dtype must be one of {', '.join(sorted(DTYPE_BYTES))}, got {_shown(dtype)}")
    sources = Sources({file: text})
    if len(text) > max_bytes or len(text) * 4 > max_bytes \
            and len(text.encode("utf-8", "surrogatepass")) > max_bytes:  # 4: UTF-8's widest
        raise CnnError([Diagnostic("E0405", f"{file} is larger than the limit of {max_bytes:,} "
                                   "bytes", None, help="raise the limit with max_bytes=")])
    program = parse(text, file, max_tokens=max_tokens_for(max_bytes))
    # A doubled value (`t = (t, t)` built in Python) is left whole: the
    # elaborator measures it and refuses it without walking every leaf.
    params = {name: value if too_large(value) else _plain(value) for name, value in params.items()}
    graph = elaborate(program, sources, params, input_shape, max_nodes)
    del program  # the graph keeps what it needs (spans): the tree goes before the passes run
    graph.graph["dtype"] = dtype
    warnings, allowed = split_allowed(run_all(graph), sources)
    net = Network(graph, sources, warnings)
    net.allowed = allowed  # warnings the spec allows with `# allow: CODE` comments
    return net


def load(path: str | Path, /, *, input_shape: tuple | None = None,
         max_nodes: int = DEFAULT_MAX_NODES, dtype: str = "float32",
         max_bytes: int = DEFAULT_MAX_BYTES, **params) -> Network:
    """Check the spec at ``path``; keyword arguments override network parameters.

    The options are those of :func:`loads`; ``path`` must be a regular file
    of at most ``max_bytes`` (16 MB unless raised), or ``zoo:NAME`` for a
    torchvision builder (``zoo:resnet50``: its family spec in ``specs/zoo/``
    with the builder's parameters, which keyword arguments override).

    >>> import pathlib, tempfile
    >>> spec = pathlib.Path(tempfile.mkdtemp()) / "tiny.cnn"
    >>> _ = spec.write_text("network tiny(c = 4)\\ninput [1, 8, 8]\\nconv(c, k=3)")
    >>> load(spec, c=2).output_shape
    (2, 6, 6)
    >>> load(spec, input_shape=(1, 5, 5)).output_shape
    (4, 3, 3)
    >>> load("zoo:resnet18").params
    11689512
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load() takes a path (str or os.PathLike), got {_shown(path)}")
    file, text, defaults = open_spec(path, _positive("max_bytes", max_bytes))
    return loads(text, file, input_shape=input_shape, max_nodes=max_nodes, dtype=dtype,
                 max_bytes=max_bytes, **{**defaults, **params})


def open_spec(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str, str, dict]:
    """(name, text, network parameters) of a spec file or of ``zoo:NAME``.

    A zoo name that does not exist raises ValueError with the closest name.
    """
    from . import zoo  # noqa: PLC0415
    if isinstance(path, str) and path.startswith(zoo.PREFIX):
        try:
            spec, defaults = zoo.resolve(path)
        except KeyError as err:
            raise ValueError(err.args[0]) from None
        _, text = read_spec(spec, max_bytes)
        # Named as in the repository, not by where the package is installed.
        return f"specs/zoo/{spec.name}", text, defaults
    file, text = read_spec(path, max_bytes)
    return file, text, {}


# ------------------------------------------------------------ API arguments

_REPR = reprlib.Repr()  # a hostile value is not printed whole
_REPR.maxstring = _REPR.maxother = 40
_shown = _REPR.repr


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {_shown(value)}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {_shown(value)}")
    return int(value)


def _input_shape(shape) -> tuple | None:
    """The input_shape argument as a tuple of ints; sizes <= 0 are left to E0214."""
    if shape is None:
        return None
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"input_shape must be a tuple of sizes such as (3, 224, 224), "
                        f"got {_shown(shape)}")
    if any(isinstance(d, bool) or not isinstance(d, numbers.Integral) for d in shape):
        raise TypeError(f"input_shape must hold integers, got {_shown(tuple(shape))}")
    if any(abs(d) >= INT_LIMIT for d in shape):
        raise ValueError(f"input_shape: sizes must be below 2**63, got {_shown(tuple(shape))}")
    return tuple(int(d) for d in shape)


def _plain(value, depth: int = 0):
    """A network parameter's value with numpy scalars made Python numbers and lists
    tuples; anything else is left for the elaborator to accept or refuse (E0206)."""
    if isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (tuple, list)) and depth < 20:
        return tuple(_plain(v, depth + 1) for v in value)
    return value
