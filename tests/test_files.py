"""Files: outputs are written atomically, never over the input spec, and the
same spec and options give byte-identical outputs, run after run.

What sits at an output path decides how it is written (issue 18, item 3):
regular files are replaced atomically, through symlinks, and only if
writable; devices and FIFOs are written in place as `>` would; directories,
block devices and sockets are refused.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cnndsl import files
from cnndsl.cli import main
from cnndsl.files import OutputError, atomic_write, how_to_write

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


# ------------------------------------------------- what is at the path

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def test_a_fifo_is_written_in_place_like_the_shell_does(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()  # blocks in open() until a writer comes
    atomic_write(fifo, "through the pipe\n")
    reader.join(timeout=120)  # a hang guard only: the reader ends as soon as the write does
    assert received == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still a FIFO, not a regular file
    assert _leftovers(tmp_path) == []


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.py"
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "link.py"
    link.symlink_to(Path("real") / "model.py")  # relative, as people make them
    atomic_write(link, "new\n")
    assert link.is_symlink() and target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert _leftovers(tmp_path) == _leftovers(tmp_path / "real") == []


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.py"
    link.symlink_to(tmp_path / "made.py")
    atomic_write(link, "made\n")
    assert link.is_symlink() and (tmp_path / "made.py").read_text() == "made\n"


def test_a_read_only_file_is_refused_even_for_root(tmp_path, capsys):
    # `>` refuses a 0444 file to its owner; root could write it, but a file
    # with no write bit at all is read-only on purpose: refused for everyone.
    target = tmp_path / "frozen.py"
    target.write_text("keep me\n")
    target.chmod(0o444)
    with pytest.raises(OutputError, match="read-only"):
        atomic_write(target, "replaced\n")
    with pytest.raises(SystemExit) as info:
        main(["compile", str(SPEC), "-o", str(target)])
    assert info.value.code == 2 and "read-only" in capsys.readouterr().err
    assert target.read_text() == "keep me\n" and _leftovers(tmp_path) == []


@pytest.mark.skipif(not AS_ROOT, reason="a file another user owns needs root to make")
def test_root_writes_another_users_file_as_the_shell_would_and_keeps_its_owner(tmp_path):
    target = tmp_path / "theirs.py"
    target.write_text("old\n")
    target.chmod(0o644)
    os.chown(target, 65534, 65534)
    atomic_write(target, "new\n")
    st = target.stat()
    assert target.read_text() == "new\n" and (st.st_uid, st.st_gid) == (65534, 65534)
    assert stat.S_IMODE(st.st_mode) == 0o644


@pytest.mark.skipif(AS_ROOT, reason="root may write any file the shell lets it")
def test_a_file_the_user_cannot_write_is_refused(tmp_path):
    target = tmp_path / "locked.py"
    target.write_text("keep me\n")
    target.chmod(0o400)  # readable, with the owner's write bit off
    with pytest.raises(OutputError, match="read-only"):
        atomic_write(target, "replaced\n")
    assert target.read_text() == "keep me\n"


def test_a_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "out.py"
    out.mkdir()
    with pytest.raises(OutputError, match="it is a directory"):
        atomic_write(out, "x")
    with pytest.raises(SystemExit) as info:
        main(["compile", str(SPEC), "-o", str(out)])
    assert info.value.code == 2 and "it is a directory" in capsys.readouterr().err
    assert out.is_dir() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("length", [243, 255])
def test_long_valid_names_work(tmp_path, length):
    target = tmp_path / ("n" * (length - 3) + ".py")
    atomic_write(target, "x\n")
    atomic_write(target, "y\n")  # over an existing file too
    assert target.read_text() == "y\n" and _leftovers(tmp_path) == []


def _stat(kind: int) -> os.stat_result:
    return os.stat_result((kind | 0o666, 0, 0, 1, 0, 0, 0, 0, 0, 0))


@pytest.mark.parametrize("kind, how", [
    (stat.S_IFREG, "replace"), (stat.S_IFCHR, "stream"), (stat.S_IFIFO, "stream"),
    (stat.S_IFBLK, "a block device"), (stat.S_IFSOCK, "a socket"), (stat.S_IFDIR, "a directory"),
], ids=["file", "character-device", "fifo", "block-device", "socket", "directory"])
def test_what_is_at_the_path_decides_how_it_is_written(kind, how):
    if how in ("replace", "stream"):
        assert how_to_write(_stat(kind), "x") == how
    else:
        with pytest.raises(OutputError, match=f"it is {how}"):
            how_to_write(_stat(kind), "x")
    assert how_to_write(None, "x") == "replace"  # nothing there yet


def test_a_character_device_is_written_not_replaced(tmp_path):
    # /dev/null's own numbers, made in tmp_path: as root, the old rename
    # replaced /dev/null itself with a text file.
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (OSError, AttributeError) as err:
        pytest.skip(f"cannot make a device node here ({err}): needs root and CAP_MKNOD")
    atomic_write(device, "discarded\n")
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert main(["compile", str(SPEC), "-o", str(device)]) == 0
    assert stat.S_ISCHR(os.lstat(device).st_mode) and _leftovers(tmp_path) == []


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
