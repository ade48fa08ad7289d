"""Parameters, buffers, MACs and FLOPs of every layer, from its op's rules.

MACs follow fvcore: one multiply-add of a conv or linear layer is one,
bias not counted. FLOPs are everything else (norms, pools, activations,
adds, biases), kept apart so the two never mix. Batch norm counts fvcore's
two per element at inference (normalize, then scale and shift), adaptive
pools one per input element, so those match fvcore too
(tests/test_cost.py checks both against tests/reference/torchvision.json).
An op without a FLOP rule raises NotImplementedError: a bug in the registry
that tests/test_cost.py catches for every op, never a silent zero.
"""

from __future__ import annotations


KEYS = ("params", "buffers", "macs", "flops")


def run(graph) -> list:
    """Write ``params``, ``buffers``, ``macs`` and ``flops`` on every node and their totals."""
    nodes = dict(graph.nodes(data=True))  # node -> data, without a view per lookup
    total_params = total_buffers = total_macs = total_flops = 0
    for node, data in nodes.items():
        op, args, out = data["op"], data["args"], data["shape"]
        inputs = data["inputs"]
        if len(inputs) == 1:  # most layers
            ins = [nodes[inputs[0]]["shape"]]
        else:
            ins = [nodes[i]["shape"] for i in inputs]
        params, buffers = op.params(args, ins, out)
        macs, flops = op.macs(args, ins, out), op.flops(args, ins, out)
        data["params"], data["buffers"], data["macs"], data["flops"] = params, buffers, macs, flops
        if not (type(params) is type(buffers) is type(macs) is type(flops) is int
                and params >= 0 and buffers >= 0 and macs >= 0 and flops >= 0):
            _refuse(op, node, (params, buffers, macs, flops))
        total_params += params
        total_buffers += buffers
        total_macs += macs
        total_flops += flops
    totals = (total_params, total_buffers, total_macs, total_flops)  # as KEYS
    graph.graph.update(zip(KEYS, totals))
    return []


def _refuse(op, node, counts) -> None:
    """Raise for the first count that is no integer >= 0: a registry bug, not the spec's."""
    for key, value in zip(KEYS, counts):
        if not isinstance(value, int) or value < 0:
            raise TypeError(f"op `{op.name}` gave {key}={value!r} for node {node}")
