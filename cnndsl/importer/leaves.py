"""A torch.nn module back to a layer of the language: the op and its arguments.

Nothing here lists torch classes by hand. The ops say which module they
compile to (``Op.torch``); a leaf module is read back by trying the ops:
each op's arguments are looked up on the module by their names and
aliases (``kernel_size``, ``out_channels``, ``eps``...), the op builds its
own module from them, and that module must be the same as the original:
same class, same settings, same parameter shapes, and the same output on
the traced input shape. Arguments are then dropped one at a time where
the op builds the same module without them, so the spec writes only what
differs from the defaults.
"""

from __future__ import annotations

import functools
from itertools import product

from ..ops import base as ops_base
from ..ops.base import Choice, Ctor, Param

IGNORED_ATTRIBUTES = {"training", "inplace"}


class Unsupported(Exception):
    """A module or operation the language cannot express."""


@functools.lru_cache(maxsize=None)
def ctor_classes() -> frozenset:
    """The torch class names the ops compile to, read from each op's own example."""
    from ..network import loads
    names = set()
    for op in ops_base.REGISTRY.values():
        if not op.example:
            continue
        try:
            graph = loads(f"network probe\n{op.example}").graph
        except Exception:  # noqa: BLE001 - an example that needs more than this: skip it
            continue
        for _, data in graph.nodes(data=True):
            if data["op"] is not op:
                continue
            ins = [graph.nodes[i]["shape"] for i in data["inputs"]]
            try:
                made = op.torch(data["args"], ins, data["shape"])
            except NotImplementedError:
                continue
            if made is not None:
                names.add(made.cls)
    return frozenset(names)


def build(ctor: Ctor):
    """The module a Ctor describes."""
    import torch
    from torch import nn
    if ctor.source:
        scope = {"torch": torch, "nn": nn}
        exec(ctor.source, scope)  # noqa: S102 - the op's own class definition
        cls = scope[ctor.cls]
    else:
        cls = getattr(nn, ctor.cls)
    return cls(*ctor.args, **ctor.kwargs)


def _plain(v):
    import torch
    if isinstance(v, torch.nn.Parameter) or isinstance(v, torch.Tensor):
        return True  # a bias that exists
    if isinstance(v, list):
        return tuple(v)
    return v


def _attribute(module, arg):
    """The module's value for an op argument, looked up by its names; KeyError if none."""
    for name in (arg.name, *arg.aliases):
        if name in IGNORED_ATTRIBUTES or not hasattr(module, name):
            continue
        value = getattr(module, name)
        if callable(value) and not hasattr(value, "shape"):
            continue
        if name == "bias" or arg.name == "bias":
            return value is not None and value is not False
        value = _plain(value)
        if name == "padding" and isinstance(value, tuple) and len(value) == 4:
            left, right, top, bottom = value  # torch's pad order
            value = ((top, bottom), (left, right))
        if name == "padding" and value == "valid":
            value = 0
        return value
    raise KeyError(arg.name)


def _same_value(a, b) -> bool:
    if a == b:
        return True
    # 3 and (3, 3) set a window alike
    if isinstance(a, int) and isinstance(b, tuple):
        return all(x == a for x in b)
    if isinstance(b, int) and isinstance(a, tuple):
        return all(x == b for x in a)
    return False


def _settings(module) -> dict:
    return {k: _plain(v) for k, v in vars(module).items()
            if not k.startswith("_") and k not in IGNORED_ATTRIBUTES}


def same_module(mine, theirs, in_shape, layout: str = "nchw") -> bool:
    """Whether ``mine`` (built from the spec) computes what ``theirs`` does."""
    if type(mine).__name__ != type(theirs).__name__ and not isinstance(mine, type(theirs)) \
            and not isinstance(theirs, type(mine)):
        return False  # the same name (our LayerNorm2d, torchvision's) or a subclass
    a, b = _settings(mine), _settings(theirs)
    if a.keys() != b.keys() or any(not _same_value(a[k], b[k]) for k in a):
        return False
    ours, real = mine.state_dict(), theirs.state_dict()
    if list(ours) != list(real) or any(ours[k].shape != real[k].shape for k in ours):
        return False
    try:
        return _same_output(mine, theirs, real, in_shape, layout)
    except RuntimeError:  # shapes the candidate cannot take: not this op
        return False


def _same_output(mine, theirs, real, in_shape, layout) -> bool:
    import torch
    mine.load_state_dict(real)
    mine.eval()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        x = torch.randn((1, *in_shape), generator=gen, dtype=torch.float64)
        mine, theirs_d = mine.double(), _double_copy(theirs)
        if layout == "nhwc":  # theirs works on the channels-last view
            want = theirs_d(x.permute(0, 2, 3, 1).clone()).permute(0, 3, 1, 2)
        else:
            want = theirs_d(x.clone())  # an in-place activation must not change x
        got = mine(x.clone())
    return got.shape == want.shape and torch.allclose(got, want, rtol=1e-9, atol=1e-9,
                                                     equal_nan=True)


def _double_copy(module):
    import copy
    return copy.deepcopy(module).double().eval()


def _candidates(module, op):
    """Argument sets read off the module for ``op``: one, or one per option of a
    Choice the module has no attribute for."""
    written, open_choices = {}, []
    for arg in op.args:
        try:
            written[arg.name] = _attribute(module, arg)
        except KeyError:
            if isinstance(arg.type, Choice):
                open_choices.append(arg)
            elif arg.default is ops_base.REQUIRED:
                return
    for options in product(*(a.type.options for a in open_choices)):
        yield {**written, **{a.name: o for a, o in zip(open_choices, options)}}


def _made(op, written: dict, ins, out):
    try:
        args = op.bind([], dict(written))
        return op.torch(args, ins, out)
    except Exception:  # noqa: BLE001 - these arguments do not fit this op
        return None


_SEEN: dict = {}  # (class, settings, parameter shapes, input shape, layout) -> result


def invert(module, in_shape: tuple, out_shape: tuple, layout: str = "nchw"):
    """``(op name, written arguments)`` for a leaf module, or raise Unsupported.

    Modules of one class with the same settings and shapes read back alike:
    the answer is kept for them (within this process).
    """
    in_shape = _probe(module, tuple(in_shape))
    key = (type(module), repr(sorted(_settings(module).items(), key=str)),
           tuple((k, tuple(v.shape)) for k, v in module.state_dict().items()),
           in_shape, layout)
    if key not in _SEEN:
        if len(_SEEN) > 4096:
            _SEEN.clear()
        _SEEN[key] = _invert(module, in_shape, out_shape, layout)
    op, args = _SEEN[key]
    return op, dict(args)


def _probe(module, shape: tuple) -> tuple:
    """A small input of the same channels on which the module shows what it computes:
    a few windows of a sliding one, a few pixels of any other."""
    if len(shape) != 3:
        return shape
    need = 8
    for attr in ("kernel_size", "output_size"):
        k = getattr(module, attr, None)
        if k is None:
            continue
        ks = k if isinstance(k, (tuple, list)) else (k, k)
        need = max(need, *(int(v or 1) * 3 for v in ks))
    d = getattr(module, "dilation", 1)
    s = getattr(module, "stride", 1)
    for v in (d if isinstance(d, (tuple, list)) else (d,)) + (s if isinstance(s, (tuple, list))
                                                              else (s,)):
        if isinstance(v, int):
            need *= max(v, 1)
    c, h, w = shape
    return (c, min(h, need), min(w, need))


def _invert(module, in_shape: tuple, out_shape: tuple, layout: str):
    tried, found = [], []
    for op in ops_base.REGISTRY.values():
        if op.many_inputs:
            continue
        for written in _candidates(module, op):
            made = _made(op, written, [in_shape], out_shape)
            if made is None or isinstance(made, Param):
                continue
            if layout == "nchw" and made.cls != type(module).__name__:
                continue
            try:
                mine = build(made)
            except Exception:  # noqa: BLE001
                continue
            if not same_module(mine, module, in_shape, layout):
                a, b = _settings(mine), _settings(module)
                tried.append((op.name, {k: b.get(k) for k in b
                                        if k not in a or not _same_value(a[k], b[k])},
                              {k: a.get(k) for k in b if k in a and not _same_value(a[k], b[k])}))
                continue
            found.append((op.name, _minimal(op, written, made, in_shape, out_shape)))
    if not found:
        raise Unsupported(_why(module, tried))
    return min(found, key=lambda f: len(f[1]))  # the shortest spelling: global_avgpool


def _minimal(op, written: dict, made, in_shape, out_shape) -> dict:
    """Drop every argument the op builds the same module without."""
    kept = dict(written)
    for name in list(kept):
        trial = {k: v for k, v in kept.items() if k != name}
        if _made(op, trial, [in_shape], out_shape) == made:
            kept = trial
    args = op.bind([], kept)
    return {k: args[k] for k in kept}


def _why(module, tried) -> str:
    name = type(module).__name__
    for op, theirs, ours in tried:
        if theirs:
            shown = ", ".join(f"{k}={v!r}" for k, v in theirs.items())
            mine = ", ".join(f"{k}={v!r}" for k, v in ours.items())
            return (f"{name} with {shown} has no layer in the language"
                    + (f" (`{op}` builds {mine})" if mine else f" (closest: `{op}`)"))
    if tried:
        return (f"{name} ({module.extra_repr() or 'no settings'}) computes something no layer "
                f"of the language does (closest: `{tried[0][0]}`)")
    return f"{name} has no layer in the language"
