"""Files: outputs are written atomically, never over the input spec, and the
same spec and options give byte-identical outputs, run after run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnndsl import files
from cnndsl.cli import main
from cnndsl.files import OutputError, atomic_write

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "lenet.cnn"


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# ------------------------------------------------------------ atomic_write


def test_atomic_write_creates_and_replaces(tmp_path):
    target = tmp_path / "out.py"
    atomic_write(target, "first\n")
    atomic_write(target, b"second\n")
    assert target.read_bytes() == b"second\n"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_leaves_the_earlier_output_and_no_temporary(tmp_path, monkeypatch, failing):
    target = tmp_path / "out.py"
    target.write_text("earlier output\n")

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, failing, broken)
    with pytest.raises(OSError):
        atomic_write(target, "new output that never lands\n" * 1000)
    assert target.read_text() == "earlier output\n"
    assert _leftovers(tmp_path) == []


def test_the_input_spec_is_never_overwritten(tmp_path):
    spec = tmp_path / "net.cnn"
    spec.write_text("network t\ninput [1, 8, 8]\nrelu\n")
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.py"
    link.symlink_to(spec)
    for target in (spec, tmp_path / "sub" / ".." / "net.cnn", link):
        with pytest.raises(OutputError, match="refusing to overwrite the input spec"):
            atomic_write(target, "generated", spec=spec)
    assert spec.read_text() == "network t\ninput [1, 8, 8]\nrelu\n"


def test_a_hard_link_to_the_spec_is_replaced_not_written_through(tmp_path):
    # The rename swaps the directory entry: the spec's own inode is untouched.
    spec = tmp_path / "net.cnn"
    spec.write_text("network t\ninput [1, 8, 8]\nrelu\n")
    other = tmp_path / "out.py"
    os.link(spec, other)
    atomic_write(other, "generated\n", spec=spec)
    assert spec.read_text() == "network t\ninput [1, 8, 8]\nrelu\n"
    assert other.read_text() == "generated\n"


# ----------------------------------------------------------- the commands


def _spec_copy(tmp_path: Path, name: str = "lenet.cnn") -> Path:
    spec = tmp_path / name
    spec.write_bytes(SPEC.read_bytes())
    return spec


@pytest.mark.parametrize("command, name", [(["compile"], "lenet.py"), (["draw"], "lenet.dot")])
def test_commands_refuse_to_overwrite_their_spec(tmp_path, capsys, command, name):
    spec = _spec_copy(tmp_path, name)  # a spec whose name is a valid output name
    before = spec.read_bytes()
    with pytest.raises(SystemExit) as info:
        main([*command, str(spec), "-o", str(spec)])
    assert info.value.code == 2
    assert "refusing to overwrite the input spec" in capsys.readouterr().err
    assert spec.read_bytes() == before


@pytest.mark.parametrize("command, name", [(["compile"], "out.py"), (["draw"], "out.dot")])
def test_a_failing_spec_leaves_the_earlier_output(tmp_path, capsys, command, name):
    good, bad = _spec_copy(tmp_path), tmp_path / "bad.cnn"
    bad.write_text(SPEC.read_text().replace("linear(classes)", "linear(clases)"))
    out = tmp_path / name
    assert main([*command, str(good), "-o", str(out)]) == 0
    earlier = out.read_bytes()
    assert main([*command, str(bad), "-o", str(out)]) == 1
    assert "error[E0209]" in capsys.readouterr().err
    assert out.read_bytes() == earlier
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------ byte-identical outputs


def _run(args: list[str], seed: str, cwd: Path) -> bytes:
    """Run the CLI in a fresh interpreter with a given hash seed; its stdout."""
    env = dict(os.environ, PYTHONHASHSEED=seed)
    done = subprocess.run([sys.executable, "-m", "cnndsl", *args], cwd=cwd, env=env,
                          capture_output=True, check=True)
    return done.stdout


def test_check_json_is_byte_identical_across_runs_and_hash_seeds():
    args = ["check", "specs/googlenet.cnn", "--json", "--set", "classes=10"]
    outputs = {_run(args, seed, ROOT) for seed in ("0", "1", "12345")}
    assert len(outputs) == 1 and outputs.pop().startswith(b"{")


@pytest.mark.parametrize("command,spec,suffix", [
    ("draw", "specs/resnet18.cnn", ".dot"),
    ("compile", "specs/googlenet.cnn", ".py"),
])
def test_outputs_are_byte_identical_across_runs_and_hash_seeds(tmp_path, command, spec, suffix):
    outputs = set()
    for seed in ("0", "7"):
        out = tmp_path / f"net{seed}{suffix}"
        _run([command, spec, "-o", str(out)], seed, ROOT)
        outputs.add(out.read_bytes())
    assert len(outputs) == 1
