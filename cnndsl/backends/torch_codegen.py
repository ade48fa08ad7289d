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

Text from outside (the spec's file name, block calls as written, string
arguments, ``--set`` values) enters the source only as an escaped literal
(``repr``) or in a comment on one line with every unprintable character
escaped (:func:`cnndsl.diagnostics.visible`); the file is named by its
base name, so no machine path is written. Every result then passes
:func:`verify_source` before it is executed or written.

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
import math
import re
import textwrap
from dataclasses import dataclass, field

from ..diagnostics import visible
from ..expressions import show_value
from ..ops.base import Ctor, Param, fmt_shape
from ..outputs import DICT, TENSOR, TRAINING_TUPLE, declared, eval_outputs, returns, training_only
from .verify import GeneratedSourceError, verify_source

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
    # node id -> attribute path of a bare parameter (Param), on its scope's module
    param_paths: dict = field(default_factory=dict)


def class_name(name: str) -> str:
    """`resnet18` -> `Resnet18`, `my_net` -> `MyNet`: a class name people would write."""
    parts = [p for p in name.replace("-", "_").split("_") if p]
    text = "".join(p[:1].upper() + p[1:] for p in parts) or "Network"
    return text if _identifier(text) and not keyword.iskeyword(text) else f"Net{_safe(text)}"


def _identifier(name: str) -> bool:
    # ASCII only: Python folds other identifiers by NFKC, so `ｘ` would be `x`.
    return name.isascii() and name.isidentifier()


def _safe(name: str) -> str:
    """Any name as an ASCII identifier (the language's names already are)."""
    return name if _identifier(name) else "_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


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
                name = _safe(segment)
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


def literal(value) -> str:
    """Source for a constructor argument: a Python literal, never pasted text.

    Strings go through ``repr``, which escapes quotes, backslashes and every
    unprintable character; a non-finite float is spelt as a call, since
    ``repr`` gives the bare names ``inf`` and ``nan``.

    >>> literal(("C:\\\\Users", 1.5, True, float("inf")))
    "('C:\\\\\\\\Users', 1.5, True, float('inf'))"
    """
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({str(value)!r})"
    if isinstance(value, (tuple, list)):
        items = ", ".join(literal(v) for v in value)
        if isinstance(value, list):
            return f"[{items}]"
        return f"({items},)" if len(value) == 1 else f"({items})"
    raise GeneratedSourceError(f"cannot write a {type(value).__name__} as a constructor argument")


def _ctor_source(ctor: Ctor) -> str:
    """`nn.Conv2d(3, 64, kernel_size=3)`; a class the file defines itself has no `nn.`."""
    names = [ctor.cls, *ctor.kwargs]
    if not all(_identifier(n) and not keyword.iskeyword(n) for n in names):
        raise GeneratedSourceError(f"constructor {ctor.cls!r}: a name is not an identifier")
    args = [literal(a) for a in ctor.args]
    args += [f"{k}={literal(v)}" for k, v in ctor.kwargs.items()]
    prefix = "" if getattr(ctor, "source", "") else "nn."
    return f"{prefix}{ctor.cls}({', '.join(args)})"


def _param_source(param: Param) -> str:
    """`nn.Parameter(torch.full((96, 1, 1), 1e-06))`: every value ``fill``, float32."""
    return f"nn.Parameter(torch.full({literal(tuple(param.shape))}, {literal(float(param.fill))}))"


def _variable(base: str) -> str:
    name = base if _identifier(base) else "x"
    while keyword.iskeyword(name) or name in _RESERVED_LOCALS:
        name += "_"
    return name


def base_name(file: str) -> str:
    """The spec's file name without its folders, split at `/` and `\\` alike: a
    generated file names no machine path (`C:\\Users\\nina\\vgg.cnn` -> `vgg.cnn`)."""
    return next((part for part in reversed(re.split(r"[\\/]", file)) if part), file)


def _comment(text: str, indent: int = 0) -> list[str]:
    """Text as comment lines: escaped by `visible`, so it cannot end the
    comment, start a line or reorder what an editor shows; wrapped at WIDTH."""
    width = WIDTH - indent - 2
    return ["# " + line for line in textwrap.wrap(visible(text), width,
                                                  break_on_hyphens=False)] or ["#"]


def _docstring(text: str, indent: str) -> list[str]:
    """A triple-quoted docstring of ``visible(text)``, wrapped: a
    backslash and a quote are escaped, so nothing in it can end the string."""
    wrapped = textwrap.wrap(visible(text), WIDTH - len(indent) - 3, break_on_hyphens=False)
    escaped = [line.replace("\\", "\\\\").replace('"', '\\"') for line in wrapped or [""]]
    lines = [indent + ('"""' if i == 0 else "") + line for i, line in enumerate(escaped)]
    return lines + [indent + '"""']


def _header(graph) -> list[str]:
    g = graph.graph
    # Shown as the spec writes values, bounded: a huge tuple costs a few characters.
    settings = ", ".join(f"{k}={show_value(v)}" for k, v in g.get("settings", {}).items())
    title = (f"Generated by `cnndsl compile` from {base_name(g.get('file', '<spec>'))}"
             f" (network {g['name']}{': ' + settings if settings else ''}).")
    out = _comment(title)
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
    # Layers only training outputs need (aux classifiers) run last, under `if self.training:`.
    deferred = training_only(graph)
    layers = [v for v in graph.nodes if v != "input" and v not in deferred]
    layers += [v for v in graph.nodes if v in deferred]
    namer = _Namer()

    init: list[tuple[str, str | None, str]] = []  # (line, node id, the node it is for)
    forward: list[tuple[str, str | None]] = []
    module_paths: dict[str, str] = {}
    param_paths: dict[str, str] = {}
    spec_lines: dict[str, str] = {}
    made: set[str] = set()
    defined: dict[str, str] = {}  # class source -> its name: what the file defines itself

    # Liveness: the index of the statement that last reads each tensor, so a
    # variable name is reused only once its value is dead (like a register
    # allocator); the output stays live to the return.
    position = {v: i for i, v in enumerate(layers)}
    last_use = {"input": -1}
    for v in layers:
        last_use.setdefault(v, -1)
        for u in graph.nodes[v]["inputs"]:
            last_use[u] = max(last_use[u], position[v])
    for _, node, _ in declared(graph):
        last_use[node] = len(layers)
    holder: dict[str, str] = {"x": "input"}  # variable -> node whose value it holds
    var: dict[str, str] = {"input": "x"}

    def free(name: str, i: int) -> bool:
        return name not in holder or last_use[holder[name]] <= i

    for i, v in enumerate(layers):
        if v in deferred and not any(v2 in deferred for v2 in layers[:i][-1:]):
            forward.append(("if self.training:", None))
        indent = "    " if v in deferred else ""
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
            # Shown by print(model): escaped like every display of spec text.
            text = "" if label == kind else visible(label)
            init.append((_fit(f"self.{attr} = ", f"{CONTAINERS[kind]}({literal(text)})")
                          if text else f"self.{attr} = {CONTAINERS[kind]}()", None, v))
            if kind != "path":  # a path's variable already carries its name
                note = f"{scope_id}{': ' + text if text else ''}"
                forward += [(indent + line, None) for line in _comment(note, 8 + len(indent))]

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

        if isinstance(ctor, Param):
            # On the enclosing scope's module, under the layer's name: `self.<scope>.<name>`
            # is that, since a node id is its scopes' ids and then its own name.
            attr = namer.path(v)
            param_paths[v] = attr
            if data.get("span") is not None:
                spec_lines[attr] = str(data["span"])
            init.append((_fit(f"self.{attr} = ", _param_source(ctor)), v, v))
            expr = op.forward_source(args, [*inputs, f"self.{attr}"])
        elif ctor is not None:
            if getattr(ctor, "source", ""):  # a module torch.nn lacks: its class, once
                defined.setdefault(ctor.source.strip("\n"), ctor.cls)
            attr = namer.path(v)
            module_paths[v] = attr
            if data.get("span") is not None:
                spec_lines[attr] = str(data["span"])
            init.append((_fit(f"self.{attr} = ", _ctor_source(ctor)), v, v))
            expr = f"self.{attr}({', '.join(inputs)})"
        else:
            expr = op.forward_source(args, inputs)
        line = f"{indent}{target} = {expr}"
        comment = f"  # {fmt_shape(shape)}"
        forward.append((line + comment if len(line + comment) + 8 <= WIDTH else line, v))
        # No `del` of dead paths after a merge: freeing early measured 5% slower
        # on ResNet-50 at batch 8 on 16 threads (glibc reuse of ~25 MB blocks).
        if probe:
            forward.append((f"{indent}probe({literal(v)}, {target})", v))
    forward += _returns(graph, var, deferred)

    # The network's class must not shadow a class the file defines: a network
    # called `path` would otherwise build itself for every path, forever.
    taken = {"torch", "nn", "Scope", "OrderedDict", "NamedTuple", *CONTAINERS.values(),
             *defined.values()}
    name = class_name(g["name"])
    while name in taken or name + "Outputs" in taken:
        name = "Net" + name
    kind = returns(graph)
    if kind == TRAINING_TUPLE:  # torchvision's GoogLeNetOutputs: a field per output
        fields = [f"    {out}: torch.Tensor" for out, _, _ in declared(graph)]
        defined[f"class {name}Outputs(NamedTuple):\n" + "\n".join(fields)] = name + "Outputs"
        forward = [(line.replace(OUTPUTS_CLASS, name + "Outputs"), node)
                   for line, node in forward]
    out: list[tuple[str, str | None]] = [(line, None) for line in _header(graph)] if header \
        else [("import torch", None), ("from torch import nn", None), ("", None), ("", None)]
    imports = {DICT: ["from collections import OrderedDict"],
               TRAINING_TUPLE: ["from typing import NamedTuple"]
               + (["from collections import OrderedDict"] if len(eval_outputs(graph)) > 1 else [])
               }.get(kind, [])
    at = next(i for i, (line, _) in enumerate(out) if line == "from torch import nn")
    out[at:at] = [(line, None) for line in sorted(imports)]
    out += [(line, None) for line in PRELUDE.splitlines()] + [("", None), ("", None)]
    for text in defined:
        out += [(line, None) for line in text.split("\n")] + [("", None), ("", None)]
    doc = (f"{g['name']}, compiled from {base_name(g.get('file', '<spec>'))}: input "
           f"{fmt_shape(g['input'])} -> {fmt_shape(graph.nodes[g['output']]['shape'])}"
           f", {g.get('params', 0):,} parameters.")
    out += [(f"class {name}(Scope):", None)]
    out += [(line, None) for line in _docstring(doc, "    ")]
    out += [("", None),
            ("    def __init__(self) -> None:", None), ("        super().__init__()", None)]
    # Modules register in spec order (state_dict keys follow the spec), whatever the
    # order forward runs them in: aux classifiers registered where the spec has them.
    order = {v: i for i, v in enumerate(graph.nodes)}
    init = [entry for _, entry in sorted(enumerate(init), key=lambda e: (order[e[1][2]], e[0]))]
    out += [("        " + line, node) for line, node, _ in init]
    result = {TENSOR: "torch.Tensor", DICT: "OrderedDict[str, torch.Tensor]"}.get(kind)
    out += [("", None), (f"    def forward(self, x: torch.Tensor){' -> ' + result if result else ''}:",
                         None)]
    out += [("        " + line, node) for line, node in forward]
    text = "\n".join(line for line, _ in out) + "\n"
    verify_source(text, frozenset({"probe"}) if probe else frozenset())  # before any use
    lines = {n + 1: node for n, (_, node) in enumerate(out) if node is not None}
    return GeneratedSource(text, name, module_paths, spec_lines, lines, param_paths=param_paths)


OUTPUTS_CLASS = "{OUTPUTS}"  # the namedtuple's name, known once the class is named


def _returns(graph, var: dict, deferred: set) -> list[tuple[str, None]]:
    """The return statements: see cnndsl.outputs for the conventions."""
    kind = returns(graph)
    if kind == TENSOR:
        return [(f"return {var[graph.graph['output']]}", None)]
    if kind == DICT:
        items = ", ".join(f"({literal(name)}, {var[node]})" for name, node in eval_outputs(graph))
        return [(_fit("return ", f"OrderedDict([{items}])"), None)]
    every = ", ".join(var[node] for _, node, _ in declared(graph))
    lines = [] if deferred else [("if self.training:", None)]
    lines.append((_fit("    return ", f"{OUTPUTS_CLASS}({every})", 12), None))
    main = eval_outputs(graph)
    if len(main) == 1:
        lines.append((f"return {var[main[0][1]]}", None))
    else:
        items = ", ".join(f"({literal(name)}, {var[node]})" for name, node in main)
        lines.append((_fit("return ", f"OrderedDict([{items}])"), None))
    return lines


__all__ = ["GeneratedSource", "GeneratedSourceError", "generate", "verify_source", "literal",
           "base_name", "class_name"]
