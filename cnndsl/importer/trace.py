"""A torch module traced (torch.fx) into layers of the language.

Leaf modules (torch.nn layers, and the classes the ops compile to) stay
whole; everything else is traced through, so the graph keeps, for every
layer, the chain of module calls it sits in (``nn_module_stack``). Each
fx node becomes a :class:`Node`: an op of the language with its written
arguments, the values it reads and the shapes it sees. What the language
has no op for is an :class:`Unsupported` error naming the module path
and the operation.
"""

from __future__ import annotations

import contextlib
import io
import operator
from dataclasses import dataclass, field

from .functions import HANDLERS, as_module, flat, function_name, is_tuple_of_tensors, shape_of
from .leaves import Unsupported, ctor_classes, invert

CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")


@dataclass
class Node:
    id: int
    op: str
    args: dict
    ins: list
    in_shapes: list
    shape: tuple
    scope: tuple  # ((call key, qualified name, class name), ...), outermost first
    where: str
    name: str | None = None  # the leaf's attribute name, for `as`


@dataclass
class Traced:
    nodes: list = field(default_factory=list)
    output: int = 0
    input_shape: tuple = ()


def _tracer_class():
    import torch.fx as fx

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname):
            cls = type(m)
            if cls.__module__.startswith("torch.nn") and cls.__name__ not in CONTAINERS:
                return True
            return cls.__name__ in ctor_classes() and not m._modules

    return Tracer


def trace(model, input_shape: tuple) -> Traced:
    import torch
    import torch.fx as fx
    from torch.fx.passes.shape_prop import ShapeProp

    tracer = _tracer_class()()
    try:
        graph = tracer.trace(model)
    except Exception as e:  # noqa: BLE001 - whatever fx refuses, said with the module path
        where = _innermost(tracer)
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "control flow" in text or "iteration" in text or "len(" in text:
            text = ("control flow that depends on the data, which torch.fx cannot trace "
                    f"({text})")
        raise Unsupported(f"{where}: {text}") from None
    gm = fx.GraphModule(tracer.root, graph)
    try:
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(gm).propagate(torch.zeros((1, *input_shape)))
    except Exception as e:  # noqa: BLE001
        cause = e.__cause__ or e
        raise Unsupported(f"the model does not run on a {'x'.join(map(str, input_shape))} "
                          f"input: {str(cause).strip().splitlines()[0]}") from None
    return _Reader(gm, input_shape).read()


def _plain_container(cls) -> bool:
    """nn.Sequential, or a subclass that adds no forward and whose constructor takes
    only its layers (``*layers`` or ``**layers``: cnndsl's own generated Stage and
    Path): a container, whose layers are written in place. A subclass with
    settings of its own (torchvision's Conv2dNormActivation) is a block."""
    import inspect

    from torch import nn
    for klass in cls.__mro__:
        if klass in (nn.Sequential, nn.ModuleList, nn.ModuleDict):
            return True
        if "forward" in vars(klass):
            return False
        if "__init__" in vars(klass):
            params = list(inspect.signature(klass.__init__).parameters.values())[1:]
            if any(p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
                return False
    return False


def _innermost(tracer) -> str:
    stack = list(getattr(tracer, "module_stack", {}).values())
    if not stack:
        return "the model's forward"
    qualname, cls = stack[-1]
    return f"`{qualname or 'the model'}` ({cls.__name__})"


class _Reader:
    def __init__(self, gm, input_shape):
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.out = Traced(input_shape=tuple(input_shape))
        self.value = {}  # fx node -> value id (or a tuple of ids / ("chunk", id, parts))
        self.layout = {}  # fx node -> "nchw", or "nhwc" for a channels-last view
        self.params = {}  # get_attr node -> tensor

    def read(self) -> Traced:
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if self.value:
                    raise Unsupported("the model takes more than one input")
                self.value[node] = 0
                self.layout[node] = "nchw"
            elif node.op == "get_attr":
                self.params[node] = operator.attrgetter(node.target)(self.gm)
            elif node.op == "call_module":
                self._module(node)
            elif node.op in ("call_function", "call_method"):
                self._function(node)
            elif node.op == "output":
                result = node.args[0]
                if not hasattr(result, "op") or result not in self.value or \
                        not isinstance(self.value[result], int):
                    raise Unsupported("the model returns more than one tensor "
                                      "(the language describes one output)")
                self.out.output = self.value[result]
                if self.layout.get(result) != "nchw":
                    raise Unsupported("the model returns a channels-last tensor")
        return self.out

    # -- helpers
    def _scope(self, node, leaf=None) -> tuple:
        stack = node.meta.get("nn_module_stack") or {}
        scope = []
        for key, (qualname, cls) in stack.items():
            if leaf is not None and qualname == leaf:
                module = self.modules.get(qualname)
                if "@" in key and module is not None and \
                        next(iter(module.state_dict()), None) is not None:
                    raise Unsupported(f"`{qualname}` ({cls.__name__}) is called more than once: "
                                      f"the language has no shared weights")
                continue
            scope.append((key, qualname, "Sequential" if _plain_container(cls) else cls.__name__))
        return tuple(scope)

    def _where(self, node, what: str) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        if stack:
            qualname, cls = list(stack.values())[-1]
            return f"`{qualname}` ({cls.__name__}): {what}"
        return f"the model's forward: {what}"

    def _id(self, arg, node):
        if not hasattr(arg, "op") or arg not in self.value:
            raise Unsupported(self._where(node, f"`{node.name}` reads a value that is no tensor "
                                                f"of the network ({arg!r})"))
        v = self.value[arg]
        if not isinstance(v, int):
            raise Unsupported(self._where(node, f"`{node.name}` reads a tuple of tensors"))
        return v

    def _add(self, node, op, args, ins, scope, where, name=None, layout="nchw", shape=None):
        shapes = [self._nchw(i) for i in ins]
        shape = shape or shape_of(node)
        if layout == "nhwc":
            shape = (shape[-1], *shape[:-1])
        new = Node(len(self.out.nodes) + 1, op, args, list(ins), shapes, shape, scope, where, name)
        self.out.nodes.append(new)
        self.value[node] = new.id
        self.layout[node] = layout
        return new

    def _nchw(self, value_id):
        if value_id == 0:
            return self.out.input_shape
        return self.out.nodes[value_id - 1].shape

    # -- modules
    def _module(self, node):
        module = self.modules[node.target]
        x = self._id(node.args[0], node) if node.args else None
        if x is None or len(node.args) != 1 or node.kwargs:
            raise Unsupported(self._where(node, f"{type(module).__name__} called with "
                                                f"{len(node.args) + len(node.kwargs)} inputs"))
        self._leaf(node, module, node.args[0], self._scope(node, leaf=node.target),
                   f"`{node.target}` ({type(module).__name__})", node.target.rsplit(".", 1)[-1])

    def _leaf(self, node, module, source, scope, where, name=None):
        x, layout = self._id(source, node), self.layout[source]
        try:
            op, args = invert(module, self._nchw(x), None, layout)
        except Unsupported as e:
            raise Unsupported(f"{where}: {e}") from None
        self._add(node, op, args, [x], scope, where, name, layout)

    # -- functions and methods
    def _function(self, node):
        if shape_of(node) is None and not is_tuple_of_tensors(node):
            return  # sizes and other numbers: read by the shape rules, not layers
        target = node.target
        name = target if isinstance(target, str) else function_name(target)
        scope = self._scope(node)
        where = self._where(node, f"`{name}`")
        tensors = [a for a in flat(node.args) + flat(list(node.kwargs.values()))
                   if hasattr(a, "op") and (shape_of(a) is not None or a in self.params)]
        handler = HANDLERS.get(name)
        if handler is None:
            module = as_module(target, node)
            if module is None:
                raise Unsupported(self._where(node, f"`{name}` is not an operation of the "
                                                    f"language"))
            self._leaf(node, module, tensors[0], scope, where)
            return
        handler(self, node, tensors, scope, where)

    def merge(self, node, tensors, scope, where, kind):
        ins = [self._id(t, node) for t in tensors]
        layouts = {self.layout[t] for t in tensors}
        if len(layouts) != 1:
            raise Unsupported(f"{where}: merges tensors of different layouts")
        self._add(node, kind, {}, ins, scope, where, layout=layouts.pop())

    def alias(self, node, tensor, layout=None):
        self.value[node] = self._id(tensor, node)
        self.layout[node] = layout or self.layout[tensor]


