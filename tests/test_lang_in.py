"""`in`: the tensor flowing into the statement that reads it, everywhere.

At the start of a block that is the block's input, so ResNet's shortcut
test reads as before; in the middle of a sequence it is the current
tensor, at the top level too (issue 9: a DenseNet transition written
`conv(in.channels // 2, k=1)` at the top level built 1-channel convs).
"""

import pytest

import cnndsl
from cnndsl import CnnError

HEAD = "network t\ninput [3, 32, 32]\n"


def net(body, head=HEAD, **kw):
    return cnndsl.loads(head + body, **kw)


def channels(n, node):
    return n.graph.nodes[node]["shape"][0]


def errors(body, head=HEAD):
    with pytest.raises(CnnError) as info:
        net(body, head)
    return info.value.diagnostics


def test_a_transition_at_the_top_level_halves_the_current_width():
    n = net("conv(64, k=3, p=1) bn relu\nconv(in.channels // 2, k=1) avgpool(2)")
    assert channels(n, "conv_2") == 32  # was 3 // 2 = 1: the network input's channels


def test_at_the_start_of_the_top_level_in_is_the_network_input():
    assert channels(net("conv(in.channels * 2, k=1)"), "conv_1") == 6


def test_in_the_middle_of_a_block_in_is_the_current_tensor():
    n = net("block b() { conv(8, k=1) conv(in.channels * 2, k=1) }\nb()")
    assert channels(n, "b_1.conv_2") == 16  # was 6: the block's input


def test_at_the_start_of_a_block_in_is_the_tensor_flowing_into_the_call():
    n = net("conv(5, k=1)\nblock b(c = in.channels) { conv(c + in.channels, k=1) }\nb()")
    assert channels(n, "b_1.conv_1") == 10


def test_in_a_path_in_is_the_tensor_at_that_point_of_the_path():
    n = net("conv(8, k=1)\nconcat {\n"
            "  path { conv(4, k=1) conv(in.channels + 1, k=1) }\n"
            "  path { conv(in.channels, k=1) }\n"
            "}")
    assert channels(n, "path_1.conv_2") == 5
    assert channels(n, "path_2.conv_1") == 8


def test_in_a_loop_each_turn_reads_the_tensor_flowing_into_it():
    n = net("conv(4, k=1)\nrepeat 3 { conv(in.channels * 2, k=1) }")
    assert [channels(n, f"conv_{i}") for i in (2, 3, 4)] == [8, 16, 32]


def test_conditions_and_assignments_read_the_current_tensor():
    n = net("conv(16, k=1)\nwide = in.channels\nif in.channels == 16 { conv(wide + 1, k=1) }")
    assert channels(n, "conv_2") == 17


def test_after_from_in_is_the_named_tensor():
    n = net("conv(8, k=1) -> a\nconv(16, k=1)\nfrom a\nconv(in.channels, k=1)")
    assert channels(n, "conv_3") == 8


def test_a_shape_kept_in_a_variable_stays_that_shape():
    n = net("block b() { start = in  conv(8, k=1) conv(start.channels, k=1) }\nb()")
    assert channels(n, "b_1.conv_2") == 3


def test_the_header_has_no_in():
    (d,) = errors("relu", "network t(c = in.channels)\ninput [3, 8, 8]\n")
    assert d.code == "E0209" and "the network's parameters and input have none" in d.message


def test_in_after_a_failed_layer_stays_quiet():
    (d,) = errors("conv(8, k=100)\nconv(in.channels, k=1)")
    assert d.code == "E0304"


# ------------------------------------------------------------------ `same`


def test_same_is_a_predefined_name_for_the_string_same():
    a = net("conv(4, k=3, s=2, p=same) maxpool(k=3, s=2, p=same)")
    b = net('conv(4, k=3, s=2, p="same") maxpool(k=3, s=2, p="same")')
    assert [a.graph.nodes[v]["args"] for v in a.layers()] == \
           [b.graph.nodes[v]["args"] for v in b.layers()]
    assert a.output_shape == (4, 8, 8)


@pytest.mark.parametrize("head,body", [
    ("network t(same = 1)\ninput [3, 32, 32]\n", "conv(4, k=3, p=same)"),
    (HEAD, "same = 1\nconv(4, k=3, p=same)"),
    (HEAD, "for same in [1] { conv(4, k=3, p=same) }"),
    (HEAD, "block b(same) { conv(4, k=3, p=same) }\nb(1)"),
])
def test_a_parameter_or_variable_named_same_hides_it(head, body):
    n = net(body, head)
    assert n.output_shape == (4, 32, 32)
    assert next(a for v in n.layers() if (a := n.graph.nodes[v]["args"]))["padding"] == (1, 1)


def test_a_misspelt_same_is_suggested():
    (d,) = errors("conv(4, k=3, p=sme)")
    assert d.code == "E0209" and "`same`" in d.help
