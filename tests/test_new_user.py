"""What a new user tripped over (issue 12): each finding, fixed, with its test."""

from __future__ import annotations

import pytest

import cnndsl
from cnndsl.diagnostics import CnnError


def _errors(text: str):
    with pytest.raises(CnnError) as info:
        cnndsl.loads(text)
    return info.value.diagnostics


def test_a_concat_names_every_path_that_does_not_fit_and_the_padding_that_would():
    (d,) = _errors("network t\ninput [3, 32, 32]\nconcat {\n"
                   "  path { conv(8, k=3, p=1) }\n  path { conv(8, k=3) }\n"
                   "  path { conv(8, k=1) }\n  path { conv(8, k=3) }\n}\n")
    assert d.span.line == 5 and d.label == "this path yields 8x30x30"
    assert "the paths that agree yield 32x32" in d.notes
    assert any(note.startswith("the path at <spec>:7:3 yields 8x30x30 too") for note in d.notes)
    assert "1 more padding on each side" in d.help and "`p=1`" in d.help


def test_an_add_that_shrank_by_four_asks_for_two_more_padding():
    (d,) = _errors("network t\ninput [8, 32, 32]\n"
                   "add { path { } path { conv(8, k=5) } }\n")
    assert d.code == "E0302" and "4 pixels smaller: 2 more padding" in d.help


def test_an_error_in_a_block_is_reported_once_for_every_call():
    diagnostics = _errors(
        "network t\ninput [3, 32, 32]\n"
        "block b(c) { conv(c, k=3) concat { path { } path { conv(c, k=3) } } }\n"
        "conv(8, k=1) -> x\nb(8)\nfrom x b(8)\nfrom x b(8)\n")
    assert len(diagnostics) == 1
    assert diagnostics[0].notes[-1] == "the same error comes from 2 other calls"


def test_a_warning_is_allowed_per_line_and_per_code(tmp_path):
    import subprocess
    import sys
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    alexnet = root / "specs" / "alexnet.cnn"
    done = subprocess.run([sys.executable, "-m", "cnndsl", "check", str(alexnet), "--strict"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "W0302" not in done.stderr  # `# allow: W0302` on the lines
    spec = tmp_path / "pools.cnn"
    spec.write_text("network t\ninput [3, 8, 8]\nmaxpool(k=3, s=2)\n"
                    "# allow: W0302\nmaxpool(2)\n")
    net = cnndsl.load(spec)
    assert [w.span.line for w in net.warnings] == [3] and [w.span.line for w in net.allowed] == [5]
    run = [sys.executable, "-m", "cnndsl", "check", str(spec), "--strict"]
    assert subprocess.run(run, capture_output=True).returncode == 1
    assert subprocess.run(run + ["--allow", "W0302"], capture_output=True).returncode == 0
    bad = subprocess.run(run + ["--allow", "E0301"], capture_output=True, text=True)
    assert bad.returncode == 2 and "warning codes" in bad.stderr and not bad.stdout


def _spec(name: str) -> str:
    return str(__import__("pathlib").Path(__file__).resolve().parents[1] / "specs" / name)


def test_block_and_stage_rows_show_their_output_shape_and_depth_folds_them():
    net = cnndsl.load(_spec("resnet50.cnn"))
    full = net.summary().splitlines()
    assert any(line.startswith("layer1 ") and "stage -> 256x56x56" in line for line in full)
    assert any("bottleneck(64) -> 256x56x56" in line for line in full)
    folded = net.summary(depth=0).splitlines()
    body = folded[folded.index("-" * 100) + 1:]
    body = body[:body.index("-" * 100)]
    assert [line.split()[0] for line in body] == ["stem", "layer1", "layer2", "layer3",
                                                  "layer4", "head"]
    one = net.summary(depth=1)
    assert "  bottleneck_1 " in one and "conv_1 " not in one.split("layer1")[1]
    assert folded[-4] == full[-4]  # the totals do not change


def test_batch_scales_macs_and_activation_memory_not_parameters():
    net = cnndsl.load(_spec("lenet.cnn"))
    one, eight = net.summary().splitlines(), net.summary(batch=8).splitlines()
    g = net.graph.graph
    from cnndsl.units import si
    assert f"compute {si(g['macs'] * 8)} MACs" in eight[-3] and eight[-3].endswith("batch of 8")
    assert f"inference peak {si(g['memory']['inference_peak'] * 8, 'B')}" in eight[-2]
    assert one[-2].split(",")[0] == eight[-2].split(",")[0]  # parameters' bytes unchanged


def test_check_json_gives_the_batch_figures(tmp_path):
    import json
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "cnndsl", "check", _spec("lenet.cnn"), "--json",
                           "--batch", "4"], capture_output=True, text=True)
    doc = json.loads(done.stdout)
    assert doc["batch"]["size"] == 4 and doc["batch"]["macs"] == 4 * doc["macs"]
    bad = subprocess.run([sys.executable, "-m", "cnndsl", "check", _spec("lenet.cnn"),
                          "--batch", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--batch" in bad.stderr


def test_a_notebook_shows_the_summary_as_an_html_table():
    net = cnndsl.load(_spec("googlenet.cnn"))
    page = net._repr_mimebundle_()["text/html"]
    assert page.count("<tr>") == len(__import__("cnndsl.report", fromlist=["rows"]).rows(net)) + 1
    assert "<td>inception(64, (96, 128), (16, 32), 32)</td>" in page
    assert "total 6,998,552 params" in page
    hostile = cnndsl.loads('network t\ninput [3, 8, 8]\nblock b(s) { relu }\nb("<script>")\n')
    page = hostile._repr_mimebundle_()["text/html"]
    assert "<script" not in page and "&lt;script&gt;" in page


def test_check_json_with_named_axes_names_them_in_the_input():
    import json
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "cnndsl", "check", _spec("lenet.cnn"),
                           "--input", "1xHxW", "--json"], capture_output=True, text=True)
    doc = json.loads(done.stdout)
    assert doc["input"] == [1, "H", "W"] and doc["elaborated_at"] == [1, 28, 28]


def test_a_dead_end_branch_is_a_warning_and_fails_strict(tmp_path):
    import subprocess
    import sys
    text = ("network t\ninput [3, 32, 32]\nconv(8, k=3, p=1) relu -> x\n"
            "conv(8, k=3, p=1) relu\nfrom x\nconv(4, k=1)\n")
    (w,) = cnndsl.loads(text).warnings
    assert w.code == "W0304" and w.span.line == 4 and "up to `relu_2`" in w.label
    spec = tmp_path / "dead.cnn"
    spec.write_text(text)
    done = subprocess.run([sys.executable, "-m", "cnndsl", "check", str(spec), "--strict"],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "W0304" in done.stderr
    # an aux head declared as an output is not dead
    aux = text.replace("from x\n", "output main\nfrom x\n") + "output aux\n"
    assert cnndsl.loads(aux).warnings == []


def test_pytorch_argument_order_is_recognised_and_the_call_to_write_given():
    net = cnndsl.loads("network t\ninput [3, 32, 32]\nconv(3, 16, 3) relu\n")
    (w,) = net.warnings
    assert w.code == "W0305" and "write `conv(16, k=3)`" in w.help
    five = cnndsl.loads("network t\ninput [16, 32, 32]\nconv(16, 32, 3, 1, 1)\n").warnings
    assert "`conv(32, k=3, s=1, p=1)`" in five[0].help
    # cnndsl's own positional order is not flagged: channels, kernel, stride, padding
    assert cnndsl.loads("network t\ninput [8, 32, 32]\nconv(8, 3, 2, 1)\n").warnings == []
    (bn,) = _errors("network t\ninput [3, 32, 32]\nconv(16, k=3) bn(16)\n")
    assert bn.code == "E0206" and "write `bn`" in bn.help and "(16)" in bn.help
    (fc,) = _errors("network t\ninput [3, 32, 32]\nflatten linear(3072, 10)\n")
    assert "write `linear(10)`" in fc.help and "3072 features" in fc.help


def test_a_pool_whose_stride_passes_its_kernel_says_it_skips_pixels():
    for size in (8, 7):
        (w,) = cnndsl.loads(f"network t\ninput [3, {size}, {size}]\nmaxpool(k=1, s=2)\n").warnings
        assert w.message == f"`maxpool` skips 1 of every 2 rows and columns of its " \
                            f"{size}x{size} input"
        assert "kernel at least the stride" in w.help
