"""Graph to PyTorch source: one readable ``nn.Module`` class per network.

The emitted class mirrors the spec: every stage, block call and path is a
named container submodule, so a layer's attribute path is its node id
(``self.b3.inception_1.path_2.conv_1``) and ``state_dict`` keys follow the
spec. The forward is straight-line code generated from the graph in spec
order (a topological order): one statement per layer, merges as
``torch.cat`` / ``+`` from the op's ``forward_source``. Nothing walks the
graph at call time, which is what keeps per-call overhead at the level of
hand-written code.

Like Jinja's compiler, the generator keeps a map from generated lines to
the layers, and so the spec lines, they came from (:attr:`GeneratedSource.lines`,
:attr:`GeneratedSource.spec_lines`).

>>> import cnndsl
>>> net = cnndsl.loads("network tiny\\ninput [1, 8, 8]\\nconv(4, k=3) relu")
>>> print(generate(net.graph).text.split("def forward")[1].strip())
... # doctest: +NORMALIZE_WHITESPACE
(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_1(x)  # 4x6x6
        x = self.relu_1(x)  # 4x6x6
        return x
"""

from __future__ import annotations

import keyword
import textwrap
from dataclasses import dataclass, field

from ..ops.base import Ctor, fmt_shape

# The containers every generated file defines. Their names appear in
# print(model), so a block call reads `Block(inception(64, ...))`.
PRELUDE = '''\
class Scope(nn.Module):
    """A stage, block call or path of the spec, or the whole network.

    Submodules are also kept in the instance __dict__, so the attribute reads
    in forward (self.b3.inception_1.conv_1) skip nn.Module.__getattr__, a
    Python call per dot that costs ~10% of LeNet's forward at batch 1.
    """

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.text = text

    def extra_repr(self) -> str:
        return self.text

    def __setattr__(self, name: str, value) -> None:
        super().__setattr__(name, value)
        if name in self._modules:
            self.__dict__[name] = self._modules[name]

    def add_module(self, name: str, module) -> None:
        super().add_module(name, module)
        self.__dict__[name] = module

    def __delattr__(self, name: str) -> None:
        if name in self._modules:
            self.__dict__.pop(name, None)
        super().__delattr__(name)


class Stage(Scope):
    pass


class Block(Scope):
    pass


class Path(Scope):
    pass
'''

WIDTH = 99  # the longest line emitted where a line can be broken
CONTAINERS = {"stage": "Stage", "block": "Block", "path": "Path"}

# Names a submodule or a local variable cannot take: Python keywords, the
# attributes every nn.Module already has (`forward`, `training`, `eval`...)
# and the names the generated code itself uses.
_RESERVED_LOCALS = {"self", "torch", "nn", "probe"}


def _module_attributes() -> set[str]:
    import torch.nn as nn  # noqa: PLC0415 (torch is imported only by backends)
    return set(dir(nn.Module())) | {"text"}


@dataclass(frozen=True)
class GeneratedSource:
    """Generated Python source and the maps back to the spec."""

    text: str
    class_name: str
    module_paths: dict = field(default_factory=dict)  # node id -> attribute path
    spec_lines: dict = field(default_factory=dict)  # attribute path -> "file:line:column"
    lines: dict = field(default_factory=dict)  # generated line number -> node id


def class_name(name: str) -> str:
    """`resnet18` -> `Resnet18`, `my_net` -> `MyNet`: a class name people would write."""
    parts = [p for p in name.replace("-", "_").split("_") if p]
    text = "".join(p[:1].upper() + p[1:] for p in parts) or "Network"
    return text if text.isidentifier() and not keyword.iskeyword(text) else f"Net{text}"


class _Namer:
    """Sanitises spec names into attribute names, distinct within each parent."""

    def __init__(self):
        self.reserved = _module_attributes()
        self.taken: dict[tuple, dict[str, str]] = {}

    def path(self, node_id: str) -> str:
        out: list[str] = []
        for segment in node_id.split("."):
            names = self.taken.setdefault(tuple(out), {})
            if segment not in names:
                name = segment
                while (keyword.iskeyword(name) or name in self.reserved
                       or name in names.values()):
                    name += "_"
                names[segment] = name
            out.append(names[segment])
        return ".".join(out)


def _fit(prefix: str, call: str, indent: int = 8) -> str:
    """`prefix + call` on one line, or black's layout when it is wider than WIDTH."""
    if indent + len(prefix) + len(call) <= WIDTH:
        return prefix + call
    head, _, rest = call.partition("(")
    pad = " " * indent
    return f"{prefix}{head}(\n{pad}    {rest[:-1]}\n{pad})"


def _ctor_source(ctor: Ctor) -> str:
    args = [repr(a) for a in ctor.args]
    args += [f"{k}={v!r}" for k, v in ctor.kwargs.items()]
    return f"nn.{ctor.cls}({', '.join(args)})"


def _variable(base: str) -> str:
    name = base if base.isidentifier() else "x"
    while keyword.iskeyword(name) or name in _RESERVED_LOCALS:
        name += "_"
    return name


def _header(graph) -> list[str]:
    g = graph.graph
    settings = ", ".join(f"{k}={v!r}" for k, v in g.get("settings", {}).items())
    title = (f"Generated by `cnndsl compile` from {g.get('file', '<spec>')}"
             f" (network {g['name']}{': ' + settings if settings else ''}).")
    out = ["# " + line for line in textwrap.wrap(title, WIDTH - 2)]
    out += ["# Edit the spec and compile again rather than editing this file.",
           "import torch", "from torch import nn",
           "", ""]
    return out


def generate(graph, *, overrides: dict | None = None, probe: bool = False,
             header: bool = True) -> GeneratedSource:
    """Emit the module class for a checked graph (node data as cnndsl.elaborate writes it).

    ``overrides`` maps a node id to the :class:`Ctor` to build instead of
    the op's, or to None to drop the layer (its input flows through): the
    inference optimizer uses it to fold batch norm into convolutions.
    ``probe`` adds a ``probe(node_id, tensor)`` call after every layer,
    for tests that compare each real output shape with the inferred one.
    """
    overrides = overrides or {}
    g = graph.graph
    name = class_name(g["name"])
    layers = [v for v in graph.nodes if v != "input"]
    namer = _Namer()

    init: list[tuple[str, str | None]] = []  # (line, node id)
    forward: list[tuple[str, str | None]] = []
    module_paths: dict[str, str] = {}
    spec_lines: dict[str, str] = {}
    made: set[str] = set()

    # Liveness: the index of the statement that last reads each tensor, so a
    # variable name is reused only once its value is dead (like a register
    # allocator); the output stays live to the return.
    position = {v: i for i, v in enumerate(layers)}
    last_use = {"input": -1}
    for v in layers:
        last_use.setdefault(v, -1)
        for u in graph.nodes[v]["inputs"]:
            last_use[u] = max(last_use[u], position[v])
    last_use[g["output"]] = len(layers)
    holder: dict[str, str] = {"x": "input"}  # variable -> node whose value it holds
    var: dict[str, str] = {"input": "x"}

    def free(name: str, i: int) -> bool:
        return name not in holder or last_use[holder[name]] <= i

    for i, v in enumerate(layers):
        data = graph.nodes[v]
        op, args, shape = data["op"], data["args"], data["shape"]
        in_shapes = [graph.nodes[u]["shape"] for u in data["inputs"]]
        inputs = [var[u] for u in data["inputs"]]

        # Containers for the scopes this node sits in, created on first use.
        segments = v.split(".")
        for depth, (kind, _, label) in enumerate(data["scope"]):
            scope_id = ".".join(segments[: depth + 1])
            if scope_id in made:
                continue
            made.add(scope_id)
            attr = namer.path(scope_id)
            text = "" if label == kind else label
            init.append((f"self.{attr} = {CONTAINERS[kind]}({text!r})" if text
                         else f"self.{attr} = {CONTAINERS[kind]}()", None))
            if kind != "path":  # a path's variable already carries its name
                forward.append((f"# {scope_id}{': ' + text if text else ''}", None))

        ctor = overrides[v] if v in overrides else op.torch(args, in_shapes, shape)
        if v in overrides and ctor is None:  # dropped: the value flows through
            var[v] = inputs[0]
            holder[inputs[0]] = v
            continue

        # The variable: the innermost path's name inside a path, `x` on the trunk.
        paths = [n for kind, n, _ in data["scope"] if kind == "path"]
        base = _variable(paths[-1] if paths else "x")
        target, k = base, 1
        while not free(target, i):
            k += 1
            target = f"{base}_{k}"
        var[v], holder[target] = target, v

        if ctor is not None:
            attr = namer.path(v)
            module_paths[v] = attr
            if data.get("span") is not None:
                spec_lines[attr] = str(data["span"])
            init.append((_fit(f"self.{attr} = ", _ctor_source(ctor)), v))
            expr = f"self.{attr}({', '.join(inputs)})"
        else:
            expr = op.forward_source(args, inputs)
        line = f"{target} = {expr}"
        comment = f"  # {fmt_shape(shape)}"
        forward.append((line + comment if len(line + comment) + 8 <= WIDTH else line, v))
        # No `del` of dead paths after a merge: freeing early measured 5% slower
        # on ResNet-50 at batch 8 on 16 threads (glibc reuse of ~25 MB blocks).
        if probe:
            forward.append((f"probe({v!r}, {target})", v))
    forward.append((f"return {var[g['output']]}", None))

    out: list[tuple[str, str | None]] = [(line, None) for line in _header(graph)] if header \
        else [("import torch", None), ("from torch import nn", None), ("", None), ("", None)]
    out += [(line, None) for line in PRELUDE.splitlines()] + [("", None), ("", None)]
    doc = (f"{g['name']}, compiled from {g.get('file', '<spec>')}: input "
           f"{fmt_shape(g['input'])} -> {fmt_shape(graph.nodes[g['output']]['shape'])}"
           f", {g.get('params', 0):,} parameters.")
    doc_lines = textwrap.wrap(doc, WIDTH - 10)
    out += [(f"class {name}(Scope):", None)]
    out += [(("    " if i else '    """') + text, None) for i, text in enumerate(doc_lines)]
    out += [('    """', None), ("", None),
            ("    def __init__(self) -> None:", None), ("        super().__init__()", None)]
    out += [("        " + line, node) for line, node in init]
    out += [("", None), ("    def forward(self, x: torch.Tensor) -> torch.Tensor:", None)]
    out += [("        " + line, node) for line, node in forward]
    text = "\n".join(line for line, _ in out) + "\n"
    lines = {n + 1: node for n, (_, node) in enumerate(out) if node is not None}
    return GeneratedSource(text, name, module_paths, spec_lines, lines)
