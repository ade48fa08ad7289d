"""Functional calls and Tensor methods read as layers of the language.

``torch.cat``, ``+``, ``*``, ``torch.flatten``, ``x.mean((2, 3))``,
``x.chunk``, the permutes of a channels-last view (ConvNeXt), the
view-transpose-view of a channel shuffle, and the functions that are a
torch.nn module called on the spot (``F.relu``, ``F.max_pool2d``...),
which are read back as that module is.
"""

from __future__ import annotations

import inspect

from .leaves import Unsupported


def shape_of(node):
    meta = node.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape"):
        return None
    return tuple(meta.shape)[1:]


def flat(items) -> list:
    out = []
    for a in items:
        if isinstance(a, (list, tuple)):
            out.extend(flat(a))
        else:
            out.append(a)
    return out


def is_tuple_of_tensors(node) -> bool:
    meta = node.meta.get("tensor_meta")
    return isinstance(meta, (list, tuple)) and len(meta) > 0


def _arithmetic(kind):
    def handle(reader, node, tensors, scope, where):
        numbers = [a for a in node.args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        params = [t for t in tensors if t in reader.params]
        if kind == "mul" and params and len(tensors) == 2:
            (p,), x = params, next(t for t in tensors if t not in reader.params)
            value = reader.params[p]
            shape = reader._nchw(reader._id(x, node))
            if tuple(value.shape) != (shape[0],) + (1,) * (len(shape) - 1):
                raise Unsupported(f"{where}: multiplies by a parameter of shape "
                                  f"{tuple(value.shape)}")
            reader._add(node, "layer_scale", {"init": _float32(value.flatten()[0].item())},
                        [reader._id(x, node)], scope, where,
                        name=p.target.rsplit(".", 1)[-1])
            return
        if params:
            raise Unsupported(f"{where}: arithmetic with a parameter tensor")
        if kind == "mul" and numbers and len(tensors) == 1:
            reader._add(node, "scale", {"factor": float(numbers[0])},
                        [reader._id(tensors[0], node)], scope, where)
            return
        if len(tensors) != 2 or numbers or node.kwargs.get("alpha", 1) != 1:
            raise Unsupported(f"{where}: {kind} of a tensor and a constant, which the "
                              f"language has no layer for")
        reader.merge(node, tensors, scope, where, kind)
    return handle


def _float32(v: float) -> float:
    """The shortest decimal that is the same float32 (1e-06, not 9.999999974752427e-07)."""
    import torch
    for digits in range(1, 10):
        short = float(f"{v:.{digits}g}")
        if torch.tensor(short, dtype=torch.float32).item() == v:
            return short
    return v


def _cat(reader, node, tensors, scope, where):
    dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
    rank = len(shape_of(node)) + 1
    if dim not in (1, 1 - rank):
        raise Unsupported(f"{where}: concatenates along dimension {dim} (the language "
                          f"concatenates channels)")
    if len(tensors) == 1:
        reader.alias(node, tensors[0])
    else:
        reader.merge(node, tensors, scope, where, "concat")


def _reshape(reader, node, tensors, scope, where):
    held = reader.value.get(node.args[0])
    if isinstance(held, tuple) and held[0] == "grouped":
        _, x, groups, shuffled = held
        if shape_of(node) != reader._nchw(x):
            raise Unsupported(f"{where}: reshapes grouped channels to {shape_of(node)}")
        if shuffled:
            reader._add(node, "channel_shuffle", {"groups": groups}, [x], scope, where)
        else:
            reader.value[node] = x
            reader.layout[node] = "nchw"
        return
    x = reader._id(tensors[0], node)
    before, after = reader._nchw(x), shape_of(node)
    if after == before:
        reader.alias(node, tensors[0])
    elif len(after) == 1 and len(before) == 3:
        reader._add(node, "flatten", {}, [x], scope, where)
    elif len(before) == 3 and len(after) == 4 and after[0] * after[1] == before[0]:
        reader.value[node] = ("grouped", x, after[0], False)  # channel shuffle, step 1
    else:
        raise Unsupported(f"{where}: reshapes {before} to {after}")


def _flatten(reader, node, tensors, scope, where):
    start = node.kwargs.get("start_dim", node.args[1] if len(node.args) > 1 else 0)
    x = reader._id(tensors[0], node)
    if start != 1 or len(shape_of(node)) != 1:
        raise Unsupported(f"{where}: flattens from dimension {start} (the language flattens "
                          f"all but the batch)")
    reader._add(node, "flatten", {}, [x], scope, where)


def _permute(reader, node, tensors, scope, where):
    dims = tuple(flat(node.args[1:])) or tuple(node.kwargs.get("dims", ()))
    layout = reader.layout[tensors[0]]
    if dims == (0, 2, 3, 1) and layout == "nchw":
        reader.alias(node, tensors[0], "nhwc")  # the same tensor, seen channels-last
    elif dims == (0, 3, 1, 2) and layout == "nhwc":
        reader.alias(node, tensors[0], "nchw")
    else:
        raise Unsupported(f"{where}: permutes the axes {dims}")


def _mean(reader, node, tensors, scope, where):
    dims = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
    keep = node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False)
    dims = tuple(sorted(d % 4 for d in (dims if isinstance(dims, (list, tuple)) else (dims,))))
    x = reader._id(tensors[0], node)
    if dims != (2, 3) or reader.layout[tensors[0]] != "nchw":
        raise Unsupported(f"{where}: a mean over axes {dims}")
    channels = reader._nchw(x)[0]
    pooled = reader._add(node, "global_avgpool", {}, [x], scope, where, shape=(channels, 1, 1))
    if not keep:  # the mean drops the axes: a flatten after the pool
        reader._add(node, "flatten", {}, [pooled.id], scope, where, shape=(channels,))


def _chunk(reader, node, tensors, scope, where):
    parts = node.kwargs.get("chunks", node.args[1] if len(node.args) > 1 else None)
    dim = node.kwargs.get("dim", node.args[2] if len(node.args) > 2 else 0)
    if dim != 1:
        raise Unsupported(f"{where}: chunks along dimension {dim}")
    reader.value[node] = ("chunk", reader._id(tensors[0], node), parts)


def _getitem(reader, node, tensors, scope, where):
    source, index = node.args
    held = reader.value.get(source)
    if isinstance(held, tuple) and held[0] == "chunk" and isinstance(index, int):
        _, x, parts = held
        reader._add(node, "chunk", {"parts": parts, "index": index % parts}, [x], scope, where)
        return
    raise Unsupported(f"{where}: indexes a tensor")


def _transpose(reader, node, tensors, scope, where):
    held = reader.value.get(node.args[0])
    if isinstance(held, tuple) and held[0] == "grouped" and set(node.args[1:]) == {1, 2}:
        reader.value[node] = ("grouped", held[1], held[2], not held[3])
        return
    raise Unsupported(f"{where}: transposes axes {node.args[1:]}")


def _same_value(reader, node, tensors, scope, where):
    reader.value[node] = reader.value[node.args[0]]
    reader.layout[node] = reader.layout.get(node.args[0], "nchw")


HANDLERS = {
    "add": _arithmetic("add"), "iadd": _arithmetic("add"), "add_": _arithmetic("add"),
    "__add__": _arithmetic("add"),
    "mul": _arithmetic("mul"), "imul": _arithmetic("mul"), "mul_": _arithmetic("mul"),
    "__mul__": _arithmetic("mul"),
    "cat": _cat, "concat": _cat, "concatenate": _cat,
    "flatten": _flatten, "view": _reshape, "reshape": _reshape,
    "permute": _permute, "mean": _mean, "chunk": _chunk, "getitem": _getitem,
    "transpose": _transpose, "contiguous": _same_value,
}

# functions (and Tensor methods) that are a torch.nn module called on the spot
_AS_MODULE = {
    "relu": "ReLU", "relu_": "ReLU", "relu6": "ReLU6", "sigmoid": "Sigmoid", "tanh": "Tanh",
    "hardswish": "Hardswish", "hardsigmoid": "Hardsigmoid", "silu": "SiLU", "gelu": "GELU",
    "leaky_relu": "LeakyReLU", "elu": "ELU", "mish": "Mish", "softmax": "Softmax",
    "dropout": "Dropout", "max_pool2d": "MaxPool2d", "avg_pool2d": "AvgPool2d",
    "adaptive_avg_pool2d": "AdaptiveAvgPool2d", "_max_pool2d": "MaxPool2d",
    "max_pool2d_with_indices": "MaxPool2d",
}


def function_name(target) -> str:
    """torch.nn.functional's name for a function (max_pool2d is a dispatcher named `fn`)."""
    import torch.nn.functional as F
    for name in _AS_MODULE:
        if getattr(F, name, None) is target:
            return name
    return getattr(target, "__name__", str(target))


def as_module(target, node):
    """The torch.nn module a functional call is, or None."""
    from torch import nn
    name = target if isinstance(target, str) else function_name(target)
    cls_name = _AS_MODULE.get(name)
    if cls_name is None:
        return None
    cls = getattr(nn, cls_name)
    wanted = inspect.signature(cls.__init__).parameters
    values = dict(node.kwargs)
    if not isinstance(target, str):
        import torch.nn.functional as F
        # a dispatcher (max_pool2d) takes *args: read the signature of what it calls
        for fn in (target, getattr(F, "_" + name, None)):
            try:
                signature = inspect.signature(fn)
                if any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values()):
                    continue
                values = dict(signature.bind(*node.args, **node.kwargs).arguments)
                break
            except (TypeError, ValueError):
                continue
    kwargs = {k: v for k, v in values.items() if k in wanted and k not in ("self", "inplace")}
    if "training" in values and name == "dropout" and values["training"] is not False:
        pass  # eval traces with training=False; dropout either way
    try:
        return cls(**kwargs)
    except Exception:  # noqa: BLE001
        return None
