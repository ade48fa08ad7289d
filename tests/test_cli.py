"""The command line: exit codes, options, JSON, and what `check` imports."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT, SPECS

from cnndsl.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "cnndsl", *args], capture_output=True,
                          text=True, cwd=ROOT)


def test_check_prints_summary(capsys):
    assert main(["check", str(SPECS / "lenet.cnn")]) == 0
    out = capsys.readouterr().out
    assert "network lenet" in out
    assert "conv 5x5, 6" in out and "16x5x5" in out
    assert "61,706" in out


def test_check_json_fields(capsys):
    assert main(["check", str(SPECS / "vgg16.cnn"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["network"] == "vgg16"
    assert doc["input"] == [3, 224, 224] and doc["output"] == [1000]
    assert doc["params"] == 138_357_544
    first = doc["layers"][0]
    assert first["name"] == "features.vgg_block_1.conv_1"
    assert first["op"] == "conv" and first["shape"] == [64, 224, 224]
    assert first["params"] == 1_792
    assert sum(layer["params"] for layer in doc["layers"]) == doc["params"]


def test_set_and_input_override(capsys):
    code = main(["check", str(SPECS / "googlenet.cnn"), "--set", "in_channels=1", "classes=10",
                 "--input", "1x96x96", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["input"] == [1, 96, 96] and doc["output"] == [10]
    assert doc["settings"] == {"in_channels": 1, "classes": 10}


def test_spec_error_exits_1_with_diagnostic(tmp_path):
    spec = tmp_path / "bad.cnn"
    spec.write_text("network bad\ninput [3, 32, 32]\nconv(8, k=3) flatten conv(4, k=1)\n")
    r = run("check", str(spec))
    assert r.returncode == 1
    assert "error[E0305]" in r.stderr and f"{spec}:3:22" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


@pytest.mark.parametrize("args", [
    [], ["check"], ["frobnicate", "x.cnn"], ["check", "specs/lenet.cnn", "--input", "3xAx4"],
    ["check", "specs/lenet.cnn", "--set", "novalue"], ["check", "does/not/exist.cnn"],
])
def test_usage_errors_exit_2(args):
    r = run(*args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_setting_is_a_spec_error():
    r = run("check", "specs/lenet.cnn", "--set", "clases=3")
    assert r.returncode == 1
    assert "has no parameter `clases`" in r.stderr and "did you mean `classes`?" in r.stderr


def test_check_does_not_import_torch_or_graphviz():
    code = ("import sys; from cnndsl.cli import main; main(['check', 'specs/resnet50.cnn', "
            "'--json']); print([m for m in ('torch', 'graphviz') if m in sys.modules])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_console_script_matches_module():
    exe = ROOT / ".venv" / "bin" / "cnndsl"
    if not exe.exists():
        pytest.skip("console script not installed in .venv")
    a = subprocess.run([str(exe), "check", "specs/nin.cnn"], capture_output=True, text=True,
                       cwd=ROOT)
    b = run("check", "specs/nin.cnn")
    assert a.returncode == b.returncode == 0 and a.stdout == b.stdout


def test_set_may_come_before_the_spec(capsys):
    assert main(["check", "--set", "classes=10", "in_channels=1", str(SPECS / "lenet.cnn")]) == 0
    assert "output 10" in capsys.readouterr().out


def test_version_is_the_package_version(capsys):
    import cnndsl
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"cnndsl {cnndsl.__version__}"


def test_check_json_prints_the_diagnostics_of_a_broken_spec(tmp_path, capsys):
    spec = tmp_path / "bad.cnn"
    spec.write_text("network t\ninput [4, 8, 8]\nconv(4, k=3, s=0)\nrelu(1)\n")
    assert main(["check", str(spec), "--json"]) == 1
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["errors"] == 2 and "error[E0206]" in err  # the text stays on stderr
    first = doc["diagnostics"][0]
    assert (first["code"], first["line"], first["column"], first["end_line"],
            first["end_column"]) == ("E0206", 3, 14, 3, 17)
    assert doc["diagnostics"][1]["help"] == "write `relu` alone"
