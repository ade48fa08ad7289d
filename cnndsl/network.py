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
    ((2,), 186)
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

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.output_shape))
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
          max_nodes: int = DEFAULT_MAX_NODES, **params) -> Network:
    """Check spec text; raise :class:`CnnError` with every diagnostic if it is wrong."""
    sources = Sources({file: text})
    program = parse(text, file)
    graph = elaborate(program, sources, params, input_shape, max_nodes)
    warnings = run_all(graph)
    return Network(graph, sources, warnings)


def load(path: str | Path, *, input_shape: tuple | None = None,
         max_nodes: int = DEFAULT_MAX_NODES, **params) -> Network:
    """Check the spec at ``path``; keyword arguments override network parameters."""
    file, text = read_spec(path)
    return loads(text, file, input_shape=input_shape, max_nodes=max_nodes, **params)
