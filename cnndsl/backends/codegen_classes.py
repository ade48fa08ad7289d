"""One class per structure: the code of each scope, and the classes calls share.

Each scope in ``class`` form (see :mod:`cnndsl.backends.codegen_tree`) is
first written as a template: its ``__init__`` with every number a layer's
constructor takes (widths, strides, rates) left as a slot, and its
``forward``. Block calls whose templates match (the same layers, the same
dataflow, the same sub-scopes) share one class, as torchvision's ResNet
builds every bottleneck from one ``Bottleneck``. A slot that holds the
same value in every call is written as that value; the others become the
constructor's arguments, one per distinct row of values: ``in_channels``
where it is the block's input width, ``name * k`` where it is a multiple of
an earlier argument, otherwise named after the constructor argument it
fills (``stride``, with the most common value as default). Values that
change the structure (a layer present or not, a kernel's shape) give
another template, so another class.
"""

from __future__ import annotations

import inspect
import keyword
import re
from collections import Counter
from dataclasses import dataclass, field

from .codegen_tree import Scope

# Template markers: \x00<slot>\x00, \x01<call>\x01, and \x02<slot>\x02 for a keyword
# the constructor was not given (its default), written `, name=value` only where it varies.
SLOT, CALL, IMPLICIT = "\x00", "\x01", "\x02"
_MARK = re.compile("\x00(\\d+)\x00|\x01(\\d+)\x01|\x02(\\d+)\x02")
_WIDTHS = {"out_channels", "out_features", "num_features", "normalized_shape", "channels"}


@dataclass(eq=False)
class Instance:
    """One scope in class form, as a template and the values it fills in."""

    scope: Scope
    init: list = field(default_factory=list)  # (template line, node or None)
    forward: list = field(default_factory=list)  # (code, comment, node or None)
    inputs: list = field(default_factory=list)  # forward's argument names
    slots: list = field(default_factory=list)  # values
    hints: list = field(default_factory=list)  # (constructor class, argument name) per slot
    calls: list = field(default_factory=list)  # (child Instance, offset of its slots in ours)
    steps: dict = field(default_factory=dict)  # slot -> its step per turn of a loop over `i`
    in_channels: int | None = None
    key: tuple = ()


@dataclass
class Shape:
    """What the classes of one template were resolved to."""

    name: str
    instances: list
    params: list = field(default_factory=list)  # (name, slot index, default or None, type)
    values: dict = field(default_factory=dict)  # slot index -> source: a literal or an argument
    first: str = ""  # for a second structure of one template (Bottleneck2): the first one's name


class Templates:
    """Collects the slots of a template while it is written."""

    def __init__(self, inst: Instance):
        self.inst = inst

    def slot(self, value, hint) -> str:
        self.inst.slots.append(value)
        self.inst.hints.append(hint)
        return f"{SLOT}{len(self.inst.slots) - 1}{SLOT}"

    def implicit(self, name: str, value, cls: str, default, lead: bool) -> str:
        self.inst.slots.append(value)
        self.inst.hints.append((cls, name, True, default, lead))
        return f"{IMPLICIT}{len(self.inst.slots) - 1}{IMPLICIT}"

    def call(self, child: Instance) -> str:
        self.inst.calls.append((child, len(self.inst.slots)))
        self.inst.slots.extend(child.slots)
        self.inst.hints.extend(child.hints)
        return f"{CALL}{len(self.inst.calls) - 1}{CALL}"


def is_slot_value(value) -> bool:
    """A number, or a tuple of whole numbers (a kernel size `(1, 7)`): a slot."""
    if isinstance(value, tuple):
        return 0 < len(value) <= 3 and all(type(v) is int for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_SIGNATURES: dict = {}


def argument_names(cls: str, source: str = "") -> list[str]:
    """The positional parameter names of ``nn.<cls>`` (``in_channels, out_channels, ...``),
    or of the class ``source`` defines (read, never run)."""
    if source:
        import ast  # noqa: PLC0415
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return []
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == "__init__":
                return [a.arg for a in node.args.args[1:]]
        return []
    if cls not in _SIGNATURES:
        import torch.nn as nn  # noqa: PLC0415
        names = []
        target = getattr(nn, cls, None)
        if isinstance(target, type):
            try:
                names = [p for p in inspect.signature(target).parameters if p != "self"]
            except (TypeError, ValueError):
                names = []
        _SIGNATURES[cls] = names
    return _SIGNATURES[cls]


_DEFAULTS: dict = {}


def numeric_defaults(cls: str) -> dict:
    """{parameter: default} of ``nn.<cls>``'s keyword parameters whose default is a number."""
    if cls not in _DEFAULTS:
        import torch.nn as nn  # noqa: PLC0415
        target = getattr(nn, cls, None)
        found = {}
        if isinstance(target, type):
            try:
                found = {name: p.default for name, p in inspect.signature(target).parameters.items()
                         if is_slot_value(p.default)}
            except (TypeError, ValueError):
                found = {}
        _DEFAULTS[cls] = found
    return _DEFAULTS[cls]


def resolve_shapes(instances: list[Instance], reserved: set, base_name) -> dict:
    """key -> :class:`Shape` for every template, children before parents; names unique."""
    groups: dict[tuple, list] = {}
    for inst in instances:
        groups.setdefault(inst.key, []).append(inst)
    taken = set(reserved)
    shapes = {}
    for key, group in groups.items():
        base = base_name(group[0].scope)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}{n}"
        taken.add(name)
        shape = shapes[key] = Shape(name, group, first=base if n > 1 else "")
        _params(shape, taken)
    return shapes


def _params(shape: Shape, taken: set) -> None:
    group = shape.instances
    first = group[0]
    rows = [tuple(inst.slots[j] for inst in group) for j in range(len(first.slots))]
    inputs = tuple(inst.in_channels for inst in group)
    named: dict[tuple, str] = {}  # row -> source
    used = set(first.inputs) | {"self", "torch", "nn", "i"} | taken
    for j, row in enumerate(rows):
        if len(set(map(repr, row))) == 1:
            shape.values[j] = None  # the literal
            continue
        if row not in named:
            named[row] = _name_row(row, inputs, named, first.hints[j], used, shape, j)
        shape.values[j] = named[row]


def _name_row(row, inputs, named, hint, used, shape, j) -> str:
    if row == inputs and "in_channels" not in used:
        return _new_param(shape, "in_channels", j, row, used, default=False)
    for other, source in named.items():
        if not source.isidentifier():
            continue
        if all(type(v) is int and type(w) is int and w > 0 for v, w in zip(row, other)):
            ratios = {v // w for v, w in zip(row, other) if v % w == 0}
            if len(ratios) == 1 and all(v % w == 0 for v, w in zip(row, other)):
                k = ratios.pop()
                if k >= 2:
                    return f"{source} * {k}"
    arg = hint[1]
    base = "width" if arg in _WIDTHS else arg
    default = ("value", hint[3]) if len(hint) > 3 else hint[2]  # the constructor's own default
    return _new_param(shape, base, j, row, used, default=default)


def _new_param(shape, base, j, row, used, default) -> str:
    base = base if base.isidentifier() and not keyword.iskeyword(base) else "value"
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}_{n}"
    used.add(name)
    kinds = {"int" if type(v) is int else "float" if isinstance(v, float)
             else "tuple[int, ...]" for v in row}
    if kinds == {"int", "float"}:
        kinds = {"float"}
    kind = " | ".join(k for k in ("int", "float", "tuple[int, ...]") if k in kinds)
    if isinstance(default, tuple):
        value = default[1] if default[1] in row else Counter(row).most_common(1)[0][0]
    else:
        value = Counter(row).most_common(1)[0][0] if default else None
    if kind == "float" and value is not None:
        value = float(value)  # the annotation's type
    shape.params.append((name, j, value, kind))
    return name


def signature(shape: Shape, literal) -> str:
    """`self, in_channels: int, width: int, stride: int = 1`: required ones first."""
    required = [f"{n}: {t}" for n, _, d, t in shape.params if d is None]
    optional = [f"{n}: {t} = {literal(d)}" for n, _, d, t in shape.params if d is not None]
    return ", ".join(["self", *required, *optional])


def render(template: str, inst: Instance, shapes: dict, literal) -> str:
    """A template line of ``inst`` with its slots and calls filled in."""
    shape = shapes[inst.key]

    def fill(match) -> str:
        if match.group(3) is not None:
            j = int(match.group(3))
            source, hint = shape.values.get(j), inst.hints[j]
            if source is None and inst.slots[j] == hint[3]:
                return ""
            lead = ", " if hint[4] else ""
            return f"{lead}{hint[1]}={literal(inst.slots[j]) if source is None else source}"
        if match.group(1) is not None:
            j = int(match.group(1))
            source = shape.values.get(j)
            return _stepped(literal(inst.slots[j]) if source is None else source, inst, j)
        child, offset = inst.calls[int(match.group(2))]
        return call_source(child, offset, inst, shapes, literal)

    return _MARK.sub(fill, template)


def _stepped(text: str, inst: Instance, j: int) -> str:
    """`64 + 32 * i` for a slot that grows by a step per turn of a loop."""
    step = inst.steps.get(j)
    if not step:
        return text
    if text == "0":
        return f"{step} * i" if step != 1 else "i"
    return f"{text} + {step} * i" if step != 1 else f"{text} + i"


def call_source(child: Instance, offset: int, parent: Instance, shapes: dict, literal) -> str:
    """`Bottleneck(256, 128, stride=2)`: the child's class with the parent's values."""
    cshape, pshape = shapes[child.key], shapes[parent.key]
    args = []
    for name, j, default, _ in sorted(cshape.params, key=lambda p: p[2] is not None):
        source = pshape.values.get(offset + j)
        text = literal(parent.slots[offset + j]) if source is None else source
        text = _stepped(text, parent, offset + j)
        if offset + j in parent.steps:
            source = text
        if default is None:
            args.append(text)
        elif source is not None or parent.slots[offset + j] != default:
            args.append(f"{name}={text}")
    return f"{cshape.name}({', '.join(args)})"


__all__ = ["Instance", "Shape", "Templates", "argument_names",
           "call_source", "is_slot_value", "render", "resolve_shapes", "signature"]
