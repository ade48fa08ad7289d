"""`cnndsl compile`: the module a spec becomes, and the source it emits.

Every spec's module must run with real shapes equal to the inferred ones
and exactly the statically counted parameters; its tree and state_dict
keys must follow the spec; the emitted file must stand alone and agree
with the in-memory module.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnndsl
from cnndsl.backends.torch_module import build_module
from cnndsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.cnn")) + sorted((ROOT / "specs" / "zoo").glob("*.cnn"))


def check_against_graph(net, batch: int = 2) -> None:
    """Run a probed forward: every layer's real output shape must be its inferred shape."""
    seen = {}

    def probe(node, tensor):
        seen[node] = tuple(tensor.shape)

    module = build_module(net.graph, probe=probe).eval()
    with torch.no_grad():
        out = module(torch.randn(batch, *net.input_shape))
    assert seen.keys() == set(net.layers())
    for node in net.layers():
        assert seen[node] == (batch, *net.graph.nodes[node]["shape"]), node
    assert tuple(out.shape) == (batch, *net.output_shape)

    plain = net.to_module()
    assert sum(p.numel() for p in plain.parameters()) == net.params
    assert sum(b.numel() for b in plain.buffers()) == net.graph.graph["buffers"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_spec_runs_with_the_inferred_shapes_and_params(spec):
    check_against_graph(cnndsl.load(spec), batch=1)


# ------------------------------------------------------------ generated specs

# Layers that keep the spatial size (for concat paths), and ones that may not.
_SAME = ["conv({c}, k=3, p=1) relu", "conv({c}, k=1, bias=false) bn", "avgpool(k=3, s=1, p=1)",
         "conv({c}, k=(1, 3), p=(0, 1))", "conv({c}, k=3, p=2, d=2, g=2) sigmoid", "lrn(3)",
         "identity", "dropout(0.3) tanh"]
_ANY = _SAME + ["conv({c}, k=3, s=2, p=1)", "maxpool(k=2, s=2, ceil=true)",
                "conv({c}, k=2, p=1)"]


@st.composite
def specs(draw):
    """Chains of layers, concat blocks and residual blocks; channel counts stay even."""
    lines = ["network generated", f"input [{2 * draw(st.integers(1, 2))}, "
             f"{draw(st.integers(6, 14))}, {draw(st.integers(6, 14))}]"]
    for i in range(draw(st.integers(1, 5))):
        c = 2 * draw(st.integers(1, 4))
        kind = draw(st.sampled_from(["layer", "concat", "add"]))
        if kind == "layer":
            lines.append(draw(st.sampled_from(_ANY)).format(c=c))
        elif kind == "concat":
            paths = [f"path {{ {draw(st.sampled_from(_SAME)).format(c=c)} }}"
                     for _ in range(draw(st.integers(1, 3)))]
            lines.append("concat { " + " ".join(paths) + " path { } }")
        else:  # a residual block: the main path keeps the shape, the shortcut is empty
            lines.append(f"conv({c}, k=1) add {{ path main_{i} {{ conv({c}, k=3, p=1) bn relu }} "
                         "path { } } relu")
    if draw(st.booleans()):
        lines.append("global_avgpool flatten linear(3) softmax")
    return "\n".join(lines)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_generated_specs_run_with_the_inferred_shapes_and_params(text):
    net = cnndsl.loads(text)
    check_against_graph(net)
    source = net.to_source()
    ast.parse(source)
    assert max(len(line) for line in source.splitlines()) <= 100


# ------------------------------------------------------------ module tree


def test_module_tree_and_state_dict_keys_mirror_the_spec():
    net = cnndsl.load(ROOT / "specs" / "googlenet.cnn")
    model = net.to_module()
    keys = list(model.state_dict())
    assert keys == list(net.to_module().state_dict())  # deterministic
    assert "b3.inception_1.path_2.conv_1.weight" in keys
    # Parameters come in graph order, which transfer_weights relies on.
    layers = [k.rpartition(".")[0] for k in keys]
    order = [v for v in net.layers() if v in set(layers)]
    assert list(dict.fromkeys(layers)) == order
    text = str(model)
    assert "(b3): Stage(" in text
    assert ("    (inception_1): Inception(\n"
            "      (path_1): Path(\n        (conv_1): Conv2d(192, 64") in text


def test_names_that_clash_with_python_or_nn_module_are_renamed():
    text = ("network clash\ninput [2, 8, 8]\n"
            "stage training { conv(4, k=1) as forward relu }\n"
            "stage float { conv(4, k=1) as eval }\n")
    net = cnndsl.loads(text)
    model = net.to_module()
    assert isinstance(model.training, bool) and callable(model.forward)
    assert [k for k in model.state_dict()] == ["training_.forward_.weight",
                                               "training_.forward_.bias",
                                               "float_.eval_.weight", "float_.eval_.bias"]
    check_against_graph(net)


def test_forward_is_straight_line_code_without_graph_walks():
    source = cnndsl.load(ROOT / "specs" / "resnet18.cnn").to_source()
    forwards = [part.split("\n\n")[0] for part in source.split("def forward")[1:]]
    assert len(forwards) == 3  # one per block class and the network
    for forward in forwards:
        assert "for " not in forward and "graph" not in forward
    assert any("x = main + shortcut" in forward for forward in forwards)


# ------------------------------------------------------------ emitted source


def _import(path: Path):
    spec = importlib.util.spec_from_file_location(f"emitted_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["googlenet.cnn", "resnet18.cnn", "zoo/googlenet.cnn"])
def test_emitted_source_stands_alone_and_equals_the_module(name, tmp_path):
    spec = ROOT / "specs" / name
    out = tmp_path / "model.py"
    assert main(["compile", str(spec), "-o", str(out), "--input", "3x64x64"]) == 0
    text = out.read_text()
    assert text.startswith(f"# Generated by `cnndsl compile` from {spec.name} (network")
    assert str(ROOT) not in text  # no machine path: the spec is named by its base name
    body = text[text.index("\nimport torch"):]
    assert "cnndsl" not in body  # only the header comment names it
    assert max(len(line) for line in text.splitlines()) <= 100
    ast.parse(text)

    net = cnndsl.load(spec, input_shape=(3, 64, 64))
    emitted = _import(out)
    cls = getattr(emitted, type(net.to_module()).__name__)
    theirs, ours = cls().eval(), net.to_module().eval()
    assert list(theirs.state_dict()) == list(ours.state_dict())
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(theirs(x), ours(x))
    assert "cnndsl" not in {m.split(".")[0] for m in sys.modules if m.startswith("emitted_")}


def test_compile_prints_source_without_an_output(capsys):
    assert main(["compile", str(ROOT / "specs" / "lenet.cnn")]) == 0
    assert "class Lenet(nn.Module):" in capsys.readouterr().out


def test_compile_refuses_to_overwrite_the_spec(tmp_path, capsys):
    spec = tmp_path / "net.cnn"
    spec.write_text((ROOT / "specs" / "lenet.cnn").read_text())
    with pytest.raises(SystemExit) as exit_:
        main(["compile", str(spec), "-o", str(spec)])
    assert exit_.value.code == 2
    assert "refusing to overwrite the input spec" in capsys.readouterr().err
    assert spec.read_text() == (ROOT / "specs" / "lenet.cnn").read_text()


def test_compile_reports_spec_errors_as_diagnostics(tmp_path, capsys):
    spec = tmp_path / "bad.cnn"
    spec.write_text("network bad\ninput [1, 8, 8]\nconv(4, k=3) linear(2)\n")
    assert main(["compile", str(spec), "-o", str(tmp_path / "m.py")]) == 1
    err = capsys.readouterr().err
    assert "error[E0303]" in err and "Traceback" not in err
    assert not (tmp_path / "m.py").exists()


def test_compile_set_and_input_options(tmp_path):
    out = tmp_path / "m.py"
    assert main(["compile", str(ROOT / "specs" / "googlenet.cnn"), "--set", "in_channels=1",
                 "classes=10", "--input", "1x96x96", "-o", str(out)]) == 0
    model = getattr(_import(out), "Googlenet")()
    assert model(torch.randn(1, 1, 96, 96)).shape == (1, 10)


def test_replacing_a_layer_changes_the_forward():
    """Every way nn.Module offers of replacing a submodule changes what forward runs."""
    net = cnndsl.loads("network t\ninput [1, 4, 4]\nstage s { conv(2, k=1) relu }")
    model = net.to_module().eval()
    with torch.no_grad():
        model.s.conv_1.weight.fill_(1.0), model.s.conv_1.bias.zero_()
    x = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4)
    model.s.relu_1 = torch.nn.Identity()
    assert (model(x) < 0).any()  # the ReLU is gone
    model.s.add_module("relu_1", torch.nn.ReLU())
    assert (model(x) >= 0).all()
    model.set_submodule("s.relu_1", torch.nn.Tanh())
    assert torch.equal(model(x), torch.tanh(model.s.conv_1(x)))
    model.s._modules["relu_1"] = torch.nn.Sigmoid()
    assert torch.equal(model(x), torch.sigmoid(model.s.conv_1(x)))
    del model.s.relu_1  # a stage is an nn.Sequential: it runs what it holds
    assert torch.equal(model(x), model.s.conv_1(x))


@pytest.mark.parametrize("name", ["cnndsl.transfer", "cnndsl.backends.torch_codegen",
                                  "cnndsl.backends.optimize"])
def test_docstring_examples_run(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0


def test_a_reloaded_spec_names_its_layers_new_lines(tmp_path):
    """The class cache keys on everything the class carries: comment lines
    added above a layer leave the source text alone but move the layer."""
    from cnndsl.transfer import TransferError, transfer_weights

    spec = tmp_path / "net.cnn"
    body = "conv(4, k=3)\n    relu  conv(8, k=3)\n"
    spec.write_text("network t\ninput [1, 8, 8]\n" + body)
    before = cnndsl.load(spec).to_module()
    spec.write_text("network t\ninput [1, 8, 8]\n# one\n# two\n\n# three\n" + body)
    after = cnndsl.load(spec).to_module()
    assert type(before).spec_lines["conv_2"] == f"{spec}:4:11"
    assert type(after).spec_lines["conv_2"] == f"{spec}:8:11"
    wrong = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Conv2d(4, 9, 3))
    with pytest.raises(TransferError, match=f"declared at {spec}:8:11"):
        transfer_weights(wrong, after)
