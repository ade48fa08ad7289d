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


def inference_peak(graph, size: int, nbytes: dict | None = None) -> int:
    """Largest sum of live tensors while any layer runs, in bytes (``nbytes``: each
    node's output bytes at ``size`` bytes an element, if already counted)."""
    if nbytes is None:
        nbytes = _output_bytes(graph, size)
    owner = _storages(graph, training=False)
    skipped = training_only(graph)  # aux heads do not run at inference
    last_use = {}  # storage -> the last step that reads it (steps only grow: the last wins)
    steps = 0
    for node, data in graph.nodes(data=True):
        if node not in skipped:
            for i in data["inputs"]:
                last_use[owner[i]] = steps
            steps += 1
    for _, node in eval_outputs(graph):
        last_use[owner[node]] = steps  # the results are kept
    freed = [0] * steps  # per step, the bytes freed once it has run
    for storage, step in last_use.items():
        if step < steps:
            freed[step] += nbytes[storage]
    live = peak = step = 0
    for node in graph.nodes:
        if node in skipped:
            continue
        if owner[node] == node:
            live += nbytes[node]
            if live > peak:
                peak = live
            if node not in last_use:
                freed[step] += nbytes[node]  # never read
        live -= freed[step]
        step += 1
    return peak


def _output_bytes(graph, size: int) -> dict:
    return {node: numel(data["shape"]) * size for node, data in graph.nodes(data=True)}


def _saved_bytes(data, owner) -> tuple[set, int]:
    """(storages this layer keeps, extra bytes of masks and indices)."""
    kept, extra = set(), 0
    for what in data["op"].saves(data["args"]):
        if what == "input":
            kept.update(map(owner.__getitem__, data["inputs"]))
        elif what == "output":
            kept.add(owner[data["name"]])
        elif what == "mask":
            extra += numel(data["shape"]) * MASK_BYTES
        elif what == "indices":
            extra += numel(data["shape"]) * INDEX_BYTES
        else:
            raise ValueError(f"op `{data['op'].name}` declares an unknown saved tensor {what!r}")
    return kept, extra


def run(graph, dtype: str | None = None) -> list:
    """Write ``memory`` (bytes) on every node and the totals on the graph, counted in
    ``dtype`` (default: the graph's ``dtype``, set by :func:`cnndsl.loads`, or float32).

    Layers with the same figures share one ``memory`` dict (a network repeats its
    layers): read it, do not change it."""
    dtype = dtype or graph.graph.get("dtype", "float32")
    size = DTYPE_BYTES[dtype]
    owner = _storages(graph, training=True)
    output = _output_bytes(graph, size)
    kept_all, extra_all = set(), 0
    shared: dict = {}  # (output, saved) -> the memory dict of every layer with them
    for node, data in graph.nodes(data=True):
        kept, extra = _saved_bytes(data, owner)
        kept_all |= kept
        extra_all += extra
        figures = (output[node], sum(map(output.__getitem__, kept)) + extra)
        memory = shared.get(figures)
        if memory is None:
            memory = shared[figures] = {"output": figures[0], "saved": figures[1]}
        data["memory"] = memory
    training_saved = sum(map(output.__getitem__, kept_all)) + extra_all
    del owner, kept_all  # (a million layers: let the inference peak use their memory)
    g = graph.graph
    g["memory"] = {
        "dtype": dtype,
        "params": g["params"] * size,
        "buffers": g["buffers"] * size,
        "inference_peak": inference_peak(graph, size, output),
        "training_saved": training_saved,
    }
    return []
