"""The language constructs, each with the graph it must expand to."""

import pytest

import cnndsl


def net(body, head="network t\ninput [3, 32, 32]\n", **kw):
    return cnndsl.loads(head + body, **kw)


def shapes(n):
    return {v: n.graph.nodes[v]["shape"] for v in n.layers()}


def ops(n):
    return [n.graph.nodes[v]["op"].name for v in n.layers()]


def test_bare_layers_and_positional_and_keyword_arguments():
    a = net("conv(8, 3, 2, 1) relu")
    b = net("conv(channels=8, kernel=3, stride=2, padding=1) relu")
    c = net("conv(8, k=3, s=2, p=1) relu")
    assert shapes(a) == shapes(b) == shapes(c) == {"conv_1": (8, 16, 16), "relu_1": (8, 16, 16)}


def test_per_axis_tuples():
    n = net("conv(4, k=(1, 7), p=(0, 3))")
    assert n.output_shape == (4, 32, 32)
    assert n.params == 4 * 3 * 7 + 4


def test_block_with_defaults_and_keywords():
    n = net("block b(c, k = 3, s = 1) { conv(c, k=k, s=s, p=k // 2) }\nb(4) b(8, s=2) b(c=2, k=5)")
    assert list(shapes(n).values()) == [(4, 32, 32), (8, 16, 16), (2, 16, 16)]
    assert n.layers() == ["b_1.conv_1", "b_2.conv_1", "b_3.conv_1"]


def test_nested_blocks_and_stages_make_dotted_names():
    n = net("block inner(c) { conv(c, k=1) relu }\nblock outer(c) { inner(c) inner(c * 2) }\n"
            "stage s1 { outer(4) }")
    assert n.layers() == ["s1.outer_1.inner_1.conv_1", "s1.outer_1.inner_1.relu_1",
                          "s1.outer_1.inner_2.conv_1", "s1.outer_1.inner_2.relu_1"]
    assert n.output_shape == (8, 32, 32)


def test_repeat_and_for_with_unpacking():
    n = net("repeat 3 { conv(4, k=3, p=1) }\nfor (k, c) in [(3, 8), (5, 16)] { conv(c, k=k) }\n"
            "for c in range(2) { relu }")
    assert ops(n) == ["conv"] * 5 + ["relu"] * 2
    assert n.output_shape == (16, 26, 26)


def test_vgg_conv_arch_is_one_line():
    n = net("block vgg_block(n, c) { repeat n { conv(c, k=3, p=1) relu } maxpool(k=2, s=2) }\n"
            "for (n, c) in [(1, 8), (2, 16)] { vgg_block(n, c) }")
    assert n.output_shape == (16, 8, 8)
    assert ops(n).count("conv") == 3


def test_concat_and_add_with_identity_path():
    n = net("concat { path { conv(5, k=1) } path { } path { identity } }\n"
            "add { path { conv(11, k=3, p=1) } path { } }")
    assert n.graph.nodes["concat_1"]["shape"] == (11, 32, 32)
    assert n.graph.nodes["concat_1"]["inputs"] == ["path_1.conv_1", "input", "path_3.identity_1"]
    assert n.graph.nodes["add_1"]["inputs"] == ["path_4.conv_1", "concat_1"]


def test_named_paths_name_the_modules():
    n = net("add { path main { conv(3, k=1) } path shortcut { } }")
    assert n.layers() == ["main.conv_1", "add_1"]


@pytest.mark.parametrize("channels,stride,projected", [(3, 1, False), (3, 2, True), (8, 1, True)])
def test_if_reads_the_shape_flowing_into_the_block(channels, stride, projected):
    n = net("block res(c, stride = 1) { add {\n"
            "  path main { conv(c, k=3, s=stride, p=1) }\n"
            "  path shortcut { if stride != 1 or in.channels != c { conv(c, k=1, s=stride) } }\n"
            "} }\n"
            f"res({channels}, stride={stride})")
    assert any(v.startswith("res_1.shortcut.") for v in n.layers()) == projected
    assert n.output_shape == (channels, 32 // stride, 32 // stride)


def test_else_if_chain():
    body = "x = {}\nif x == 1 {{ relu }} else if x == 2 {{ sigmoid }} else {{ tanh }}"
    assert [ops(net(body.format(i))) for i in (1, 2, 3)] == [["relu"], ["sigmoid"], ["tanh"]]


def test_named_tensors_for_skips_that_are_not_series_parallel():
    # A U-Net-style skip: the decoder concatenates an encoder tensor by name.
    n = net("conv(8, k=3, p=1) -> skip\nmaxpool(2) conv(8, k=3, p=1)\n"
            "adaptive_avgpool(32) -> up\n"
            "concat { path { from up } path { from skip } }\nconv(4, k=1)")
    assert n.graph.nodes["concat_1"]["inputs"] == ["adaptive_avgpool_1", "conv_1"]
    assert n.output_shape == (4, 32, 32)


def test_densenet_style_growth():
    n = net("block dense_layer(k) { concat { path { } path { bn relu conv(k, k=3, p=1) } } }\n"
            "repeat 4 { dense_layer(8) }")
    assert n.output_shape == (3 + 4 * 8, 32, 32)


def test_expressions_and_builtins():
    n = net("c = 4\nconv(max(c * 2 - 1, 3) + 2 ** 2 // 3 % 5, k=len((1, 2, 3)))\n"
            "conv(int(c / 2) + abs(-1), k=1)")
    assert n.output_shape == (3, 30, 30)
    assert n.graph.nodes["conv_1"]["shape"][0] == 8


def test_network_parameters_defaults_and_overrides():
    head = "network t(c = 4, arch = [1, 2])\ninput [3, 16, 16]\n"
    body = "for n in arch { repeat n { conv(c, k=1) } }"
    assert len(net(body, head).layers()) == 3
    n = net(body, head, c=7, arch=(3,))
    assert len(n.layers()) == 3 and n.output_shape == (7, 16, 16)


def test_input_shape_from_parameters_and_override():
    n = net("conv(4, k=3)", "network t(ch = 2, size = 10)\ninput [ch, size, size]\n")
    assert n.output_shape == (4, 8, 8)
    assert net("conv(4, k=3)", input_shape=(1, 5, 5)).output_shape == (4, 3, 3)


def test_aliases_name_layers():
    n = net("conv(4, k=1) as stem\nblock b() { relu as act }\nb() as first")
    assert n.layers() == ["stem", "first.act"]


def test_flat_networks_and_batchnorm_on_features():
    n = cnndsl.loads("network mlp\ninput [784]\nlinear(100) bn relu dropout(0.1) linear(10) "
                     "softmax")
    assert n.output_shape == (10,)
    assert n.params == 784 * 100 + 100 + 200 + 100 * 10 + 10


def test_comments_and_layout_are_free():
    a = net("# a comment\nconv(4,k=3)   # trailing\n\n\nrelu")
    b = net("conv(\n  4,\n  k = 3,\n)\nrelu")
    assert shapes(a) == shapes(b)


@pytest.mark.parametrize("op", ["conv(4, k=3)", "maxpool(2)", "avgpool(2)", "global_avgpool",
                                "adaptive_avgpool((2, 3))", "lrn(5)", "batchnorm(eps=0.001)",
                                "dropout(0.3)", "relu", "sigmoid", "tanh", "softmax",
                                "identity", "flatten", "conv(6, k=3, g=3, d=2, bias=false)"])
def test_every_layer_from_the_issue_is_available(op):
    assert net(op).output_shape


def test_source_spans_are_kept_on_nodes():
    n = net("relu\n  conv(4, k=3)")
    span = n.graph.nodes["conv_1"]["span"]
    assert (span.line, span.column, span.end_column) == (4, 3, 15)
