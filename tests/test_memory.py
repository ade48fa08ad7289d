"""Memory figures: output bytes, inference peak by liveness, what training keeps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import cnndsl
from cnndsl.passes import memory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _at_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # spec paths below are relative to it


def _mem(net):
    return net.graph.graph["memory"]


def test_output_bytes_follow_the_dtype():
    net = cnndsl.loads("network t\ninput [1, 8, 8]\nconv(4, k=3) relu")
    assert net.graph.nodes["conv_1"]["memory"]["output"] == 4 * 6 * 6 * 4
    memory.run(net.graph, "float16")
    assert net.graph.nodes["conv_1"]["memory"]["output"] == 4 * 6 * 6 * 2
    assert _mem(net)["params"] == (4 * 9 + 4) * 2 and _mem(net)["dtype"] == "float16"


def test_inference_peak_of_a_chain():
    # input 256 B; conv 576 B (input freed after it); relu 576 B while conv's
    # output is still alive: peak 1152 B.
    net = cnndsl.loads("network t\ninput [1, 8, 8]\nconv(4, k=3) relu")
    assert _mem(net)["inference_peak"] == 576 + 576


def test_inference_peak_keeps_every_path_alive_until_the_merge():
    # input 64 B, path outputs 128 B and 192 B, concat 320 B; the input dies
    # after the second path: peak = 128 + 192 + 320.
    net = cnndsl.loads("network t\ninput [1, 4, 4]\n"
                       "concat { path { conv(2, k=1) } path { conv(3, k=1) } }")
    assert _mem(net)["inference_peak"] == 128 + 192 + 320


def test_views_take_no_memory_at_inference():
    # input 256 B + conv 576 B while the conv runs; a copying flatten would
    # make 576 + 576 B live, a view adds nothing.
    net = cnndsl.loads("network t\ninput [1, 8, 8]\nconv(4, k=3) flatten dropout linear(2)")
    assert _mem(net)["inference_peak"] == 256 + 576


def test_training_keeps_each_tensor_once():
    # conv keeps its input (256 B); relu its output (576 B); linear keeps the
    # flattened relu output, the same storage: 832 B in all.
    net = cnndsl.loads("network t\ninput [1, 8, 8]\nconv(4, k=3) relu flatten linear(10)")
    assert _mem(net)["training_saved"] == 256 + 576
    # a max pool adds int64 indices, one per output element
    pooled = cnndsl.loads("network t\ninput [1, 8, 8]\nconv(4, k=3) maxpool(k=2)")
    assert _mem(pooled)["training_saved"] == 256 + 576 + 4 * 3 * 3 * 8


# --------------------------------------------- against autograd's saved tensors


def _build(net):
    """The layer graph as torch modules (from the ops' constructors) and a forward."""
    g, modules = net.graph, {}
    for node in net.layers():
        d = g.nodes[node]
        ctor = d["op"].torch(d["args"], [g.nodes[i]["shape"] for i in d["inputs"]], d["shape"])
        if ctor is not None:
            modules[node] = getattr(torch.nn, ctor.cls)(*ctor.args, **ctor.kwargs)

    def forward(x):
        values = {"input": x}
        for node in net.layers():
            d = g.nodes[node]
            if node in modules:
                values[node] = modules[node](values[d["inputs"][0]])
            else:
                names = [f"v{i}" for i in range(len(d["inputs"]))]
                env = {"torch": torch, **{n: values[i] for n, i in zip(names, d["inputs"])}}
                values[node] = eval(d["op"].forward_source(d["args"], names), env)
        return values[g.graph["output"]]

    return torch.nn.ModuleDict({k.replace(".", "/"): m for k, m in modules.items()}), forward


def _autograd_saved_bytes(net) -> int:
    """Bytes of the distinct activation storages autograd saves (batch axis and up)."""
    modules, forward = _build(net)
    modules.train()
    params = {p.untyped_storage().data_ptr() for p in modules.parameters()}
    params |= {b.untyped_storage().data_ptr() for b in modules.buffers()}
    seen = {}

    def pack(t):
        storage = t.untyped_storage()
        # 1-D tensors are batch norm's per-channel mean and inverse std: not counted
        if storage.data_ptr() not in params and t.dim() >= 2:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    x = torch.rand(2, *net.input_shape)  # batch 2: batch norm trains on more than one value
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        forward(x)
    return sum(seen.values())


@pytest.mark.parametrize("spec", ["specs/resnet18.cnn", "specs/googlenet.cnn",
                                  "specs/zoo/googlenet.cnn", "specs/lenet.cnn"])
def test_training_saved_equals_autograd(spec):
    torch.manual_seed(0)
    shape = (1, 28, 28) if "lenet" in spec else (3, 64, 64)
    net = cnndsl.load(spec, input_shape=shape)
    memory.run(net.graph)
    ours = _mem(net)["training_saved"]
    # torch's CPU dropout keeps a float mask where the GPU kernel keeps bools
    ours += sum(3 * d["memory"]["output"] // 4 for _, d in net.graph.nodes(data=True)
                if "mask" in d["op"].saves(d["args"]))
    assert 2 * ours == _autograd_saved_bytes(net)  # ours is per sample
