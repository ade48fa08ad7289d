"""Reading specs is bounded (issue 18, item 6).

A spec is read from a regular file or, asked for with `-`, from standard
input; at most ``max_bytes`` of it (16 MB unless raised with --max-bytes or
``max_bytes=``). /dev/zero, a FIFO or a huge file end at once with a clear
message, having read at most one byte past the limit.
"""

from __future__ import annotations

import errno
import io
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.files import DEFAULT_MAX_BYTES

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "lenet.cnn"
TINY = "network t\ninput [1, 8, 8]\nrelu\n"


def _cnndsl(*args, **kwargs) -> subprocess.CompletedProcess:
    def at_most_two_gigabytes():  # should a read be unbounded, it fails instead of swapping
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    return subprocess.run([sys.executable, "-m", "cnndsl", *args], cwd=ROOT, capture_output=True,
                          text=True, preexec_fn=at_most_two_gigabytes, **kwargs)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_dev_zero_is_refused_as_not_a_regular_file():
    done = _cnndsl("check", "/dev/zero")
    assert done.returncode == 2
    assert done.stderr == ("cnndsl: error: cannot read '/dev/zero': not a regular file "
                           "(use `-` to read standard input)\n")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "spec.cnn"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-m", "cnndsl", "check", str(fifo)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Play the writer only if cnndsl opened the FIFO to read it: a non-blocking
    # open for writing fails (ENXIO) until a reader is there.
    while proc.poll() is None:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as err:
            assert err.errno == errno.ENXIO
            time.sleep(0.01)  # polling, not a time limit
            continue
        try:
            os.write(fd, TINY.encode())
        except BrokenPipeError:
            pass
        os.close(fd)
        break
    out, err = proc.communicate()
    assert proc.returncode == 2, out + err
    assert "not a regular file" in err and str(fifo) in err


class _Endless(io.RawIOBase):
    """A stream of `relu` lines that never ends, counting what is read from it."""

    def __init__(self):
        self.given = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        chunk = (b"relu\n" * (len(buffer) // 5 + 1))[: len(buffer)]
        buffer[: len(chunk)] = chunk
        self.given += len(chunk)
        return len(chunk)


def test_standard_input_is_read_with_the_limit(monkeypatch, capsys):
    endless = _Endless()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(endless, 64)))
    assert main(["check", "-", "--max-bytes", "1000"]) == 1
    err = capsys.readouterr().err
    assert "error[E0405]: <stdin> is larger than the limit of 1,000 bytes" in err
    assert "raise the limit with --max-bytes" in err
    assert endless.given <= 1001 + 64  # the limit, one byte more, and one buffer's worth


def test_standard_input_holds_a_spec(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(SPEC.read_bytes())))
    assert main(["check", "-", "--json"]) == 0
    assert '"network": "lenet"' in capsys.readouterr().out


def test_a_file_past_the_default_limit_is_refused_unread(tmp_path, capsys):
    big = tmp_path / "big.cnn"
    with open(big, "wb") as f:
        f.truncate(DEFAULT_MAX_BYTES + 1)  # sparse: no disk, and nothing read to find out
    assert main(["check", str(big)]) == 1
    assert f"{big} is larger than the limit of 16,777,216 bytes" in capsys.readouterr().err
    with pytest.raises(cnndsl.CnnError) as info:
        cnndsl.load(big)
    assert [d.code for d in info.value.diagnostics] == ["E0405"]


def test_the_limit_is_exact_and_can_be_raised(tmp_path, capsys):
    spec = tmp_path / "t.cnn"
    spec.write_text(TINY)
    size = len(TINY)
    assert cnndsl.load(spec, max_bytes=size).layers() == ["relu_1"]
    with pytest.raises(cnndsl.CnnError, match=f"larger than the limit of {size - 1} bytes"):
        cnndsl.load(spec, max_bytes=size - 1)
    with pytest.raises(cnndsl.CnnError, match="E0405"):
        cnndsl.loads(TINY, max_bytes=size - 1)
    assert main(["check", str(spec), "--max-bytes", str(size)]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["check", str(spec), "--max-bytes", "0"])
    assert info.value.code == 2 and "--max-bytes" in capsys.readouterr().err


def test_a_directory_says_so(tmp_path, capsys):
    assert main(["check", str(tmp_path)]) == 2
    assert "Is a directory" in capsys.readouterr().err
