"""Parameters, buffers, MACs and FLOPs of every layer, from its op's rules.

MACs follow fvcore: one multiply-add of a conv or linear layer is one,
bias not counted. FLOPs are everything else (norms, pools, activations,
adds, biases), kept apart so the two never mix.
"""

from __future__ import annotations


def run(graph) -> list:
    totals = dict.fromkeys(("params", "buffers", "macs", "flops"), 0)
    for node, data in graph.nodes(data=True):
        op, args, out = data["op"], data["args"], data["shape"]
        ins = [graph.nodes[i]["shape"] for i in data["inputs"]]
        data["params"], data["buffers"] = op.params(args, ins, out)
        data["macs"] = op.macs(args, ins, out)
        data["flops"] = op.flops(args, ins, out)
        for key in totals:
            totals[key] += data[key]
    graph.graph.update(totals)
    return []
