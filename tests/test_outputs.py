"""Several outputs: `output NAME`, `output NAME (training)`, and what modules return."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import OrderedDict

import pytest

import cnndsl
from cnndsl.diagnostics import CnnError

SEG = """network seg(aux = true)
input [3, 32, 32]
conv(8, k=3, p=1) bn relu -> mid
conv(8, k=3, s=2, p=1) bn relu
stage head { conv(2, k=1) }
upsample(mode="bilinear", to=input)
output out
if aux {
    from mid
    stage aux_head { conv(2, k=1) }
    output aux
}
"""

AUX = """network g(aux_logits = true)
input [3, 32, 32]
conv(8, k=3, p=1) relu -> a
conv(8, k=3, s=2, p=1) -> b
global_avgpool flatten linear(10) -> logits
if aux_logits {
    from a stage aux1 { global_avgpool flatten linear(10) } -> x1
    from b stage aux2 { global_avgpool flatten linear(10) } -> x2
}
from logits output logits
if aux_logits {
    from x2 output aux_logits2 (training)
    from x1 output aux_logits1 (training)
}
"""

PYRAMID = """network fpn
input [3, 32, 32]
for i in range(3) { conv(8, k=3, s=2, p=1) output "{i}" }
maxpool(2)
output "pool"
"""


def _error(text: str) -> CnnError:
    with pytest.raises(CnnError) as info:
        cnndsl.loads(text)
    return info.value


def test_outputs_are_named_in_order_with_their_shapes():
    net = cnndsl.loads(PYRAMID)
    assert net.outputs == {"0": (8, 16, 16), "1": (8, 8, 8), "2": (8, 4, 4), "pool": (8, 2, 2)}
    assert net.output_shape == (8, 16, 16)  # the main output: the first declared
    assert cnndsl.loads("network t\ninput [3, 8, 8]\nconv(2, k=1)").outputs == {}


def test_check_prints_and_json_lists_every_output():
    net = cnndsl.loads(SEG)
    assert net.summary().splitlines()[0].endswith("outputs out 2x32x32, aux 2x32x32")
    doc = net.to_json()
    assert [(o["name"], o["shape"], o["training"]) for o in doc["outputs"]] == [
        ("out", [2, 32, 32], False), ("aux", [2, 32, 32], False)]
    assert doc["outputs"][1]["layer"] == "aux_head.conv_1"
    aux = cnndsl.loads(AUX).to_json()["outputs"]
    assert [(o["name"], o["training"]) for o in aux] == [
        ("logits", False), ("aux_logits2", True), ("aux_logits1", True)]
    # one unnamed output when the spec declares none
    plain = cnndsl.loads("network t\ninput [3, 8, 8]\nconv(2, k=1)").to_json()["outputs"]
    assert [(o["name"], o["shape"]) for o in plain] == [("", [2, 8, 8])]


def test_a_feature_pyramid_header_lists_outputs_one_per_line_when_long():
    text = PYRAMID.replace("range(3)", "range(6)").replace("input [3, 32, 32]",
                                                            "input [3, 256, 256]")
    lines = cnndsl.loads(text).summary().splitlines()
    assert lines[0].endswith("outputs") and lines[1].strip() == "0 8x128x128"


def test_errors_name_the_statement():
    err = _error("network t\ninput [3, 8, 8]\nconv(2, k=1)\noutput a\nrelu\noutput a\n")
    assert [d.code for d in err.diagnostics] == ["E0210"] and err.diagnostics[0].span.line == 6
    err = _error("network t\ninput [3, 8, 8]\nrepeat 2 { conv(2, k=1) output a }\n")
    assert "output \"a{i}\"" in err.diagnostics[0].help
    err = _error("network t\ninput [3, 8, 8]\nconv(2, k=1)\noutput a (train)\n")
    assert err.diagnostics[0].code == "E0101" and "(training)" in err.diagnostics[0].help
    err = _error("network t\ninput [3, 8, 8]\nconv(2, k=1)\noutput a (training)\n")
    assert err.diagnostics[0].code == "E0215"
    err = _error('network t\ninput [3, 8, 8]\nconv(2, k=1)\noutput "0"\noutput b (training)\n')
    assert err.diagnostics[0].code == "E0206" and "namedtuple" in err.diagnostics[0].message
    err = _error('network t\ninput [3, 8, 8]\nconv(2, k=1)\noutput ""\n')
    assert err.diagnostics[0].code == "E0206"


def test_memory_at_inference_leaves_training_heads_out():
    with_aux = cnndsl.loads(AUX).graph.graph["memory"]["inference_peak"]
    without = cnndsl.loads(AUX, aux_logits=False).graph.graph["memory"]["inference_peak"]
    assert with_aux == without


torch = pytest.importorskip("torch")


def test_segmentation_module_returns_an_ordered_dict():
    module = cnndsl.loads(SEG).to_module().eval()
    out = module(torch.randn(2, 3, 32, 32))
    assert type(out) is OrderedDict and list(out) == ["out", "aux"]
    assert out["out"].shape == (2, 2, 32, 32) and out["aux"].shape == (2, 2, 32, 32)
    # the size follows the input at run time
    assert module(torch.randn(1, 3, 20, 24))["out"].shape == (1, 2, 20, 24)


def test_aux_logits_return_a_namedtuple_in_training_and_the_logits_in_eval():
    net = cnndsl.loads(AUX)
    module = net.to_module()
    ran = []
    module.aux1.linear_1.register_forward_hook(lambda *a: ran.append("aux1"))
    x = torch.randn(2, 3, 32, 32)
    out = module.train()(x)
    assert type(out).__name__ == "GOutputs"
    assert out._fields == ("logits", "aux_logits2", "aux_logits1") and ran == ["aux1"]
    eval_out = module.eval()(x)
    assert isinstance(eval_out, torch.Tensor) and ran == ["aux1"]  # aux heads skipped in eval
    assert torch.equal(eval_out, out.logits)
    # state_dict follows the spec: the heads where the spec puts them, aux1 before aux2
    keys = list(module.state_dict())
    assert keys.index("linear_1.weight") < keys.index("aux1.linear_1.weight") < \
        keys.index("aux2.linear_1.weight")


def test_standalone_source_returns_the_same(tmp_path):
    net = cnndsl.loads(AUX)
    path = tmp_path / "aux_model.py"
    path.write_text(net.to_source())
    script = (f"import sys, torch; sys.path.insert(0, {str(tmp_path)!r}); import aux_model; "
              "m = aux_model.G(); x = torch.randn(1, 3, 32, 32); o = m.train()(x); "
              "print(type(o).__name__, len(o), tuple(m.eval()(x).shape))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.split() == ["GOutputs", "3", "(1,", "10)"], done.stderr


def test_folding_batch_norm_keeps_every_output():
    net = cnndsl.loads(SEG)
    torch.manual_seed(0)
    module = net.to_module().eval()
    torch.manual_seed(0)  # the same initial weights: folding builds the module, then folds
    folded = net.to_module(optimize="inference").eval()
    x = torch.randn(1, 3, 32, 32)
    out, want = folded(x), module(x)
    assert list(out) == ["out", "aux"]
    assert all(torch.allclose(out[k], want[k], atol=1e-5) for k in want)


def test_cli_check_json_lists_outputs(tmp_path):
    spec = tmp_path / "seg.cnn"
    spec.write_text(SEG)
    done = subprocess.run([sys.executable, "-m", "cnndsl", "check", str(spec), "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [o["name"] for o in json.loads(done.stdout)["outputs"]] == ["out", "aux"]
