"""`mul`: paths multiplied with torch's broadcasting (squeeze-and-excitation).

The shape rule is checked against torch.broadcast_shapes, a squeeze-and-
excitation block compiled from a spec against the same block written with
torch.nn.functional, and its receptive field against the documented
definition (docs/language.md, "Receptive fields").
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import cnndsl
from cnndsl.ops import REGISTRY, ShapeError
from cnndsl.passes.receptive_field import WHOLE_INPUT, ReceptiveField

MUL = REGISTRY["mul"]


# ------------------------------------------------------------- shape rule

dims = st.sampled_from([1, 1, 2, 3])


@settings(max_examples=200)
@given(rank=st.sampled_from([1, 3]), count=st.integers(2, 4), data=st.data())
def test_shape_is_torch_broadcasting(rank, count, data):
    ins = [tuple(data.draw(dims) for _ in range(rank)) for _ in range(count)]
    try:  # the batch axis is the same on every path
        expected = tuple(torch.broadcast_shapes(*((2, *s) for s in ins)))[1:]
    except RuntimeError:
        expected = None
    try:
        got = MUL.shape({}, ins)
    except ShapeError as err:
        assert err.code == "E0308"
        got = None
    assert got == expected, ins


def test_paths_of_different_ranks_do_not_multiply():
    with pytest.raises(ShapeError) as err:
        MUL.shape({}, [(4, 2, 2), (4, 2, 2), (16,)])
    assert err.value.culprit == 2


SE = """network se(c = 16, r = 4)
input [c, 9, 7]
conv(c, k=3, p=1)
mul {
    path { }
    path gate { global_avgpool conv(c // r, k=1) relu conv(c, k=1) hardsigmoid }
}
conv(c, k=3, p=1)
"""


def test_a_mismatch_names_the_path_that_does_not_broadcast():
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(SE.replace("conv(c, k=1) hardsigmoid", "conv(c // 2, k=1) hardsigmoid"))
    (d,) = err.value.diagnostics
    assert d.code == "E0308" and d.message == "cannot multiply paths whose shapes do not broadcast"
    assert d.label == "this path yields 8x1x1" and d.notes[0] == "the other paths yield 16x9x7"
    assert d.span.line == 6  # the gate


# ----------------------------------------------------------- against torch


def test_squeeze_and_excitation_equals_torch_functional():
    net = cnndsl.loads(SE)
    assert net.output_shape == (16, 9, 7)
    model = net.to_module().double().eval()
    w = model.state_dict()
    x = torch.randn(2, 16, 9, 7, dtype=torch.float64)
    y = F.conv2d(x, w["conv_1.weight"], w["conv_1.bias"], padding=1)
    s = F.relu(F.conv2d(y.mean((2, 3), keepdim=True), w["gate.conv_1.weight"], w["gate.conv_1.bias"]))
    s = F.hardsigmoid(F.conv2d(s, w["gate.conv_2.weight"], w["gate.conv_2.bias"]))
    out = F.conv2d(y * s, w["conv_2.weight"], w["conv_2.bias"], padding=1)
    torch.testing.assert_close(model(x), out, rtol=0, atol=1e-10)
    assert net.params == sum(p.numel() for p in model.parameters())


def test_flops_are_one_per_output_element_per_extra_path():
    net = cnndsl.loads("network t\ninput [4, 5, 6]\n"
                       "mul { path { } path { global_avgpool } path { relu } }")
    (node,) = [v for v in net.layers() if net.graph.nodes[v]["op"] is MUL]
    assert net.graph.nodes[node]["flops"] == 4 * 5 * 6 * 2


def test_backward_keeps_every_input():
    net = cnndsl.loads("network t\ninput [4, 8, 8]\nconv(4, k=1) -> x\n"
                       "mul { path { } path { global_avgpool } }")
    (node,) = [v for v in net.layers() if net.graph.nodes[v]["op"] is MUL]
    # the 4x8x8 conv output and the 4x1x1 gate, float32
    assert net.graph.nodes[node]["memory"]["saved"] == (4 * 8 * 8 + 4) * 4


# ------------------------------------------------------- receptive field


def test_a_gate_leaves_the_field_local():
    net = cnndsl.loads(SE)
    rf = net.graph.nodes[net.graph.graph["output"]]["rf"]
    assert rf == ReceptiveField((5, 5), (1, 1), (2, 2))  # two 3x3 convs; the gate left out


def test_paths_that_vary_over_space_are_united_as_add_unites_them():
    mul = cnndsl.loads("network t\ninput [2, 16, 16]\n"
                       "mul { path { conv(2, k=3, p=1) } path { conv(2, k=5, p=2) } }")
    add = cnndsl.loads("network t\ninput [2, 16, 16]\n"
                       "add { path { conv(2, k=3, p=1) } path { conv(2, k=5, p=2) } }")
    rf = [n.graph.nodes[n.graph.graph["output"]]["rf"] for n in (mul, add)]
    assert rf[0] == rf[1] == ReceptiveField((5, 5), (1, 1), (2, 2))


def test_only_gates_multiplied_keep_their_global_field():
    net = cnndsl.loads("network t\ninput [2, 16, 16]\n"
                       "mul { path { global_avgpool } path { global_avgpool sigmoid } }")
    assert net.graph.nodes[net.graph.graph["output"]]["rf"] == WHOLE_INPUT


def test_the_gate_does_depend_on_every_pixel():
    # What the definition leaves out is real: through the gate, every input
    # pixel changes every output unit. tests/test_receptive_field.py checks the
    # field itself, with the gate detached.
    model = cnndsl.loads(SE).to_module().double()
    with torch.no_grad():  # positive weights and inputs: no relu or hardsigmoid cuts the gradient
        for param in model.parameters():
            param.fill_(0.05)
    x = (torch.rand(1, 16, 9, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
         + 0.1).requires_grad_()
    model(x)[0, :, 4, 3].sum().backward()
    assert (x.grad[0].abs().sum(0) > 0).all()
