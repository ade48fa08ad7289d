"""Memory: bytes of every layer's output, the inference peak, what training keeps.

- Inference peak, by liveness over the graph: layers run in spec order (a
  topological order); a tensor is allocated when its layer runs and freed
  after its last consumer, except the network's outputs (layers that feed
  only outputs of training mode do not run). Ops that declare
  ``view`` (flatten, identity, dropout at inference) share their input's
  storage. In-place tricks (``ReLU(inplace=True)``) are not assumed.
- Training: the distinct tensors autograd keeps for backward, as each op
  declares (``Op.saves``: conv and linear keep their input, relu its output,
  max pool its input and int64 indices, dropout a one-byte mask), each
  tensor counted once however many layers keep it. In training dropout
  and stochastic depth (``training_only``) make a new tensor, so there they
  are not views.
- Parameters and buffers at the same dtype.

Needs the cost pass (``params``, ``buffers``) to have run.
"""

from __future__ import annotations

from ..ops.base import numel
from ..outputs import eval_outputs, training_only

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1,
               "float8": 1}
INDEX_BYTES = 8  # max pool indices are int64
MASK_BYTES = 1  # dropout masks are bool (native_dropout on GPU; torch's CPU path keeps floats)


def _storages(graph, training: bool) -> dict:
    """Node -> the node whose output storage it uses (itself unless a view)."""
    owner = {}
    for node, data in graph.nodes(data=True):
        op = data["op"]
        # dropout and stochastic depth return their input only at inference
        is_view = op.view and not (training and op.training_only)
        owner[node] = owner[data["inputs"][0]] if is_view and data["inputs"] else node
    return owner


def inference_peak(graph, size: int) -> int:
    """Largest sum of live tensors while any layer runs, in bytes."""
    owner = _storages(graph, training=False)
    skipped = training_only(graph)  # aux heads do not run at inference
    order = [node for node in graph.nodes if node not in skipped]
    position = {node: i for i, node in enumerate(order)}
    last_use = {}
    for node in order:
        for i in graph.nodes[node]["inputs"]:
            last_use[owner[i]] = max(last_use.get(owner[i], 0), position[node])
    for _, node in eval_outputs(graph):
        last_use[owner[node]] = len(order)  # the results are kept
    frees: dict[int, list] = {}
    for storage, step in last_use.items():
        frees.setdefault(step, []).append(storage)
    live = peak = 0
    for step, node in enumerate(order):
        if owner[node] == node:
            live += numel(graph.nodes[node]["shape"]) * size
        peak = max(peak, live)
        for storage in frees.get(step, ()):
            live -= numel(graph.nodes[storage]["shape"]) * size
        if owner[node] == node and node not in last_use:
            live -= numel(graph.nodes[node]["shape"]) * size  # never read
    return peak


def _saved_bytes(data, owner) -> tuple[set, int]:
    """(storages this layer keeps, extra bytes of masks and indices)."""
    kept, extra = set(), 0
    out = numel(data["shape"])
    for what in data["op"].saves(data["args"]):
        if what == "input":
            kept.update(owner[i] for i in data["inputs"])
        elif what == "output":
            kept.add(owner[data["name"]])
        elif what == "mask":
            extra += out * MASK_BYTES
        elif what == "indices":
            extra += out * INDEX_BYTES
        else:
            raise ValueError(f"op `{data['op'].name}` declares an unknown saved tensor {what!r}")
    return kept, extra


def run(graph, dtype: str | None = None) -> list:
    """Write ``memory`` (bytes) on every node and the totals on the graph, counted in
    ``dtype`` (default: the graph's ``dtype``, set by :func:`cnndsl.loads`, or float32)."""
    dtype = dtype or graph.graph.get("dtype", "float32")
    size = DTYPE_BYTES[dtype]
    owner = _storages(graph, training=True)
    kept_all, extra_all = set(), 0
    for node, data in graph.nodes(data=True):
        kept, extra = _saved_bytes(data, owner)
        kept_all |= kept
        extra_all += extra
        data["memory"] = {
            "output": numel(data["shape"]) * size,
            "saved": sum(numel(graph.nodes[k]["shape"]) * size for k in kept) + extra,
        }
    g = graph.graph
    g["memory"] = {
        "dtype": dtype,
        "params": g["params"] * size,
        "buffers": g["buffers"] * size,
        "inference_peak": inference_peak(graph, size),
        "training_saved": sum(numel(graph.nodes[k]["shape"]) * size for k in kept_all)
        + extra_all,
    }
    return []
