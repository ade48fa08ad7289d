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


def run(graph) -> list:
    """Write ``params``, ``buffers``, ``macs`` and ``flops`` on every node and their totals."""
    totals = dict.fromkeys(("params", "buffers", "macs", "flops"), 0)
    for node, data in graph.nodes(data=True):
        op, args, out = data["op"], data["args"], data["shape"]
        ins = [graph.nodes[i]["shape"] for i in data["inputs"]]
        data["params"], data["buffers"] = op.params(args, ins, out)
        data["macs"] = op.macs(args, ins, out)
        data["flops"] = op.flops(args, ins, out)
        for key in totals:
            if not isinstance(data[key], int) or data[key] < 0:  # a registry bug, not the spec's
                raise TypeError(f"op `{op.name}` gave {key}={data[key]!r} for node {node}")
            totals[key] += data[key]
    graph.graph.update(totals)
    return []
