"""What a network returns: its declared outputs and torchvision's conventions.

A spec without ``output`` statements returns its last tensor. With them,
``graph.graph["outputs"]`` lists ``(name, node, training)`` in the order
the statements ran, and a compiled module returns, as torchvision's models do:

- no output of training mode alone: an ``OrderedDict`` of them, by name
  (the segmentation models' ``out``/``aux``, a backbone's feature maps);
- some ``(training)`` outputs (auxiliary classifiers): in training mode a
  namedtuple of every output in order (GoogLeNet's ``logits, aux_logits2,
  aux_logits1``); in eval mode the others, the tensor itself when there is
  one (as GoogLeNet and Inception v3 return their logits).

Layers that feed only training outputs run only in training mode.
"""

from __future__ import annotations

TENSOR, DICT, TRAINING_TUPLE = "tensor", "dict", "training tuple"


def declared(graph) -> list[tuple[str, str, bool]]:
    """(name, node, training) of every output; the last tensor, unnamed, if none is declared."""
    return list(graph.graph.get("outputs") or [("", graph.graph["output"], False)])


def returns(graph) -> str:
    """How the compiled module returns its outputs: TENSOR, DICT or TRAINING_TUPLE."""
    outs = graph.graph.get("outputs")
    if not outs:
        return TENSOR
    return TRAINING_TUPLE if any(training for _, _, training in outs) else DICT


def eval_outputs(graph) -> list[tuple[str, str]]:
    """(name, node) of the outputs of eval mode."""
    return [(name, node) for name, node, training in declared(graph) if not training]


def training_only(graph) -> set[str]:
    """The layers that only outputs of training mode need: they run only while training."""
    import networkx as nx  # noqa: PLC0415
    if returns(graph) != TRAINING_TUPLE:
        return set()
    needed = set()
    for _, node in eval_outputs(graph):
        needed |= nx.ancestors(graph, node) | {node}
    every = set()
    for _, node, _ in declared(graph):
        every |= nx.ancestors(graph, node) | {node}
    return every - needed
