"""The public entry points: load a spec, get a :class:`Network`."""

from __future__ import annotations

from pathlib import Path

from .diagnostics import CnnError, Diagnostic, Sources, Span
from .elaborate import DEFAULT_MAX_NODES, elaborate
from .parser import parse
from .passes import run_all


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

    @property
    def name(self) -> str:
        return self.graph.graph["name"]

    @property
    def input_shape(self) -> tuple:
        return self.graph.graph["input"]

    @property
    def output_shape(self) -> tuple:
        return self.graph.nodes[self.graph.graph["output"]]["shape"]

    @property
    def params(self) -> int:
        return self.graph.graph["params"]

    def layers(self) -> list[str]:
        """Node ids in spec order (a topological order), the input excluded."""
        return [v for v in self.graph.nodes if v != "input"]

    def summary(self) -> str:
        from .report import table
        return table(self)

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

    def to_source(self, *, optimize: str | None = None) -> str:
        """Standalone PyTorch source of the module class (no cnndsl import needed)."""
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

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """Jupyter shows a network as its diagram (text only where `dot` is missing)."""
        from .backends.graphviz_dot import DotMissing
        bundle = {"text/plain": repr(self)}
        try:
            bundle["image/svg+xml"] = self.draw("svg")
        except DotMissing:
            pass
        return bundle

    def __repr__(self) -> str:
        from .ops.base import fmt_shape
        shape = fmt_shape(self.output_shape)
        return f"<Network {self.name}: {len(self.layers())} layers, {self.params:,} params -> {shape}>"


def read_spec(path: str | Path) -> tuple[str, str]:
    """Read a spec as UTF-8; invalid bytes are a diagnostic, not a traceback."""
    path = str(path)
    data = Path(path).read_bytes()
    try:
        return path, data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start].decode("utf-8", "replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        shown = data.decode("utf-8", "replace")
        raise CnnError([Diagnostic("E0103", "the file is not valid UTF-8",
                                   Span(path, line, col, line, col + 1),
                                   f"byte 0x{data[err.start]:02x} here")],
                       Sources({path: shown})) from None


def loads(text: str, file: str = "<spec>", *, input_shape: tuple | None = None,
          max_nodes: int = DEFAULT_MAX_NODES, dtype: str = "float32", **params) -> Network:
    """Check spec text; raise :class:`CnnError` with every diagnostic if it is wrong.

    ``dtype`` is the element type memory figures are counted in.
    """
    sources = Sources({file: text})
    program = parse(text, file)
    graph = elaborate(program, sources, params, input_shape, max_nodes)
    graph.graph["dtype"] = dtype
    warnings = run_all(graph)
    return Network(graph, sources, warnings)


def load(path: str | Path, *, input_shape: tuple | None = None,
         max_nodes: int = DEFAULT_MAX_NODES, dtype: str = "float32", **params) -> Network:
    """Check the spec at ``path``; keyword arguments override network parameters.

    >>> import pathlib, tempfile
    >>> spec = pathlib.Path(tempfile.mkdtemp()) / "tiny.cnn"
    >>> _ = spec.write_text("network tiny(c = 4)\\ninput [1, 8, 8]\\nconv(c, k=3)")
    >>> load(spec, c=2).output_shape
    (2, 6, 6)
    >>> load(spec, input_shape=(1, 5, 5)).output_shape
    (4, 3, 3)
    """
    file, text = read_spec(path)
    return loads(text, file, input_shape=input_shape, max_nodes=max_nodes, dtype=dtype, **params)
