"""`--optimize inference`: rewrites that keep a trained module's outputs.

Batch norm in eval mode is an affine map per channel,
``y = (x - mean) / sqrt(var + eps) * gamma + beta``, so when it directly
follows a convolution whose output nothing else reads, it folds into that
convolution's weights and bias (Jacob et al., 2018, sec. 3.2; torch's
``fuse_conv_bn_eval``). The folded network is regenerated from the graph
with the batch-norm statements dropped, so the result is again plain,
readable code, not a wrapper.

ReLUs whose input no other layer reads run in place, which saves one
allocation per activation at inference (never used for training: autograd
may need the input).
"""

from __future__ import annotations

from dataclasses import replace

from ..outputs import declared
from .torch_codegen import generate
from .torch_module import load_class

LEVELS = ("inference",)


def fold_batchnorm(network, module):
    """``module`` (trained, built by ``network.to_module()``) with every batch norm that
    follows a convolution folded into it: a new module in eval mode, for inference.

    Fold last: load or transfer weights into ``network.to_module()``, fine-tune,
    then fold. A folded module has no batch norm left to load into, so
    ``transfer_weights`` refuses it (``folded_batchnorm`` on its class names what
    was folded away). ``network`` is a :class:`cnndsl.Network` or its graph.

    >>> import torch, cnndsl
    >>> net = cnndsl.loads("network t\\ninput [1, 8, 8]\\nconv(4, k=3, bias=false) bn relu")
    >>> trained = net.to_module()  # ... transfer_weights, fine-tuning ...
    >>> folded = fold_batchnorm(net, trained)
    >>> type(folded).folded_batchnorm
    ('batchnorm_1',)
    >>> x = torch.randn(2, 1, 8, 8)
    >>> torch.allclose(folded(x), trained.eval()(x), atol=1e-6)
    True
    """
    return optimize(getattr(network, "graph", network), module, "inference")


def _rewrites(graph, module) -> tuple[dict, dict]:
    """(overrides for codegen, {folded conv node: its batch-norm node})."""
    import torch.nn as nn  # noqa: PLC0415

    paths = getattr(type(module), "node_paths", None)
    if paths is None:
        raise TypeError("optimize needs a module built by Network.to_module(), "
                        f"got {type(module).__name__}")
    layer = {v: module.get_submodule(p) for v, p in paths.items()}
    overrides, folds = {}, {}
    results = {node for _, node, _ in declared(graph)}  # returned: not to be folded away
    for v in graph.nodes:
        ins = graph.nodes[v]["inputs"] if v != "input" else []
        if len(ins) != 1 or v not in layer:
            continue
        prev = ins[0]
        only_reader = graph.out_degree(prev) == 1 and prev not in results
        # Match torch types, as torch.fx's fuser does: the rewrite is about
        # nn.Conv2d and nn.BatchNorm2d, whatever op produced them.
        if (only_reader and isinstance(layer[v], nn.BatchNorm2d) and layer[v].track_running_stats
                and isinstance(layer.get(prev), nn.Conv2d)):
            conv = _ctor(graph, prev)
            kwargs = {k: val for k, val in conv.kwargs.items() if k != "bias"}
            overrides[prev] = replace(conv, kwargs=kwargs)  # folded: has a bias
            overrides[v] = None
            folds[prev] = v
        elif only_reader and isinstance(layer[v], nn.ReLU) and _fresh(graph, prev, layer):
            overrides[v] = type(_ctor(graph, v))("ReLU", (), {"inplace": True})
    return overrides, folds


def _fresh(graph, v, layer) -> bool:
    """Whether node v's output is a new tensor, not a view or alias of another.

    Only then may a ReLU overwrite it in place (flatten returns a view,
    identity and eval-mode dropout their very input).
    """
    import torch.nn as nn  # noqa: PLC0415

    if v in layer:
        return isinstance(layer[v], (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d))
    data = graph.nodes[v]
    return v != "input" and data["op"].many_inputs and len(data["inputs"]) > 1


def _ctor(graph, v):
    data = graph.nodes[v]
    ins = [graph.nodes[u]["shape"] for u in data["inputs"]]
    return data["op"].torch(data["args"], ins, data["shape"])


def optimize_source(graph, module, level: str = "inference"):
    """The generated source of the optimized network (see :func:`optimize`)."""
    _check(level)
    overrides, _ = _rewrites(graph, module)
    return generate(graph, overrides=overrides)


def optimize(graph, module, level: str = "inference"):
    """A new module computing what ``module`` (compiled from ``graph``) computes in eval mode.

    Batch norms that follow a convolution are folded into it; ReLUs run in
    place where that is safe. The result is in eval mode and meant for
    inference only.

    >>> import torch, cnndsl
    >>> net = cnndsl.loads("network t\\ninput [1, 8, 8]\\nconv(4, k=3, bias=false) bn relu")
    >>> fast = net.to_module(optimize="inference")
    >>> [name for name, _ in fast.named_children()]
    ['conv_1', 'relu_1']
    """
    import torch  # noqa: PLC0415
    from torch.nn.utils.fusion import fuse_conv_bn_weights  # noqa: PLC0415

    _check(level)
    overrides, folds = _rewrites(graph, module)
    cls = load_class(generate(graph, overrides=overrides))
    cls.folded_batchnorm = tuple(folds[v] for v in graph.nodes if v in folds)
    out = cls()
    param = next(module.parameters(), None)
    if param is not None:  # before copying, or float64 weights would round through float32
        out = out.to(device=param.device, dtype=param.dtype)
    old = type(module).node_paths
    new = cls.node_paths
    with torch.no_grad():
        for v, path in new.items():
            target = out.get_submodule(path)
            source = module.get_submodule(old[v])
            state = source.state_dict()
            if v in folds:
                # w' = w * gamma / sqrt(var + eps)
                # b' = (b - mean) * gamma / sqrt(var + eps) + beta
                bn = module.get_submodule(old[folds[v]])
                weight, bias = fuse_conv_bn_weights(source.weight, source.bias, bn.running_mean,
                                                    bn.running_var, bn.eps, bn.weight, bn.bias)
                state = {"weight": weight, "bias": bias}
            target.load_state_dict(state)
        # Bare parameters (layer scale) sit on scope modules, not in a layer: copied as they are.
        for v, path in cls.param_paths.items():
            out.get_parameter(path).copy_(module.get_parameter(type(module).param_paths[v]))
    return out.eval()


def _check(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"unknown optimization level {level!r}; known: {', '.join(LEVELS)}")
