"""The parser cache cannot run anyone else's code (issue 18, item 1).

lark's ``cache=True`` kept the pickled parser at a predictable name in the
shared temp directory and unpickled it first. cnndsl's cache is in the
user's own cache directory and is read only when the directory and the
file are this user's and writable by no one else.
"""

from __future__ import annotations

import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path

import lark
import pytest

from cnndsl import parser, parser_cache

ROOT = Path(__file__).resolve().parent.parent
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


class _Planted:
    """Unpickling this makes the directory ``marker``: proof the pickle was loaded."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _env(tmp_path: Path, shared: Path) -> dict:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return dict(os.environ, TMPDIR=str(shared), HOME=str(home),
                XDG_CACHE_HOME=str(tmp_path / "xdg"))


def _lark_cache_name(env: dict) -> Path:
    """Where lark's cache=True keeps the parser cnndsl used to build (its options then)."""
    code = ("import glob, os, tempfile, lark\n"
            "from cnndsl.parser import grammar_path\n"
            "lark.Lark(grammar_path().read_text(encoding='utf-8'), parser='lalr',\n"
            "          propagate_positions=True, maybe_placeholders=True, cache=True)\n"
            "print(*glob.glob(os.path.join(tempfile.gettempdir(), '.lark_cache_*')), sep='\\n')")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                          text=True, check=True)
    (name,) = done.stdout.split()
    return Path(name)


def test_a_pickle_planted_in_the_shared_temp_directory_is_never_loaded(tmp_path):
    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: anyone may create files here
    env = _env(tmp_path, shared)
    planted = _lark_cache_name(env)
    marker = tmp_path / "the-planted-pickle-ran"
    first_line = planted.read_bytes().split(b"\n", 1)[0]  # the sha lark checks after unpickling
    planted.write_bytes(first_line + b"\n" + pickle.dumps(_Planted(marker)))

    done = subprocess.run([sys.executable, "-m", "cnndsl", "check", "specs/lenet.cnn"], env=env,
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), "cnndsl unpickled a file another user could plant"
    # Its own cache went to the user's cache directory, private.
    cache = tmp_path / "xdg" / "cnndsl"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    (saved,) = cache.glob("parser-*.pickle")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600


# ------------------------------------------------------- the cache itself

GRAMMAR = 'start: "a"'


def _build():
    _build.calls += 1
    return lark.Lark(GRAMMAR, parser="lalr")


_build.calls = 0


def _plant(directory: Path, name: str, marker: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(pickle.dumps(_Planted(marker)))
    return path


def test_the_cache_is_private_and_used_the_second_time(tmp_path):
    directory = tmp_path / "cache" / "cnndsl"
    before = _build.calls
    first = parser_cache.load_or_build("p.pickle", _build, directory)
    second = parser_cache.load_or_build("p.pickle", _build, directory)
    assert _build.calls == before + 1  # built once, then loaded
    assert first.parse("a") == second.parse("a")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "p.pickle").stat().st_mode) == 0o600
    assert [p.name for p in directory.iterdir()] == ["p.pickle"]  # no temporary left


@pytest.mark.parametrize("unsafe", ["group-writable directory", "world-writable file",
                                    "symlinked file"])
def test_a_cache_others_could_write_is_ignored(tmp_path, unsafe):
    directory = tmp_path / "cnndsl"
    marker = tmp_path / "ran"
    if unsafe == "symlinked file":
        elsewhere = _plant(tmp_path / "elsewhere", "p.pickle", marker)
        directory.mkdir(mode=0o700)
        (directory / "p.pickle").symlink_to(elsewhere)
    else:
        path = _plant(directory, "p.pickle", marker)
        directory.chmod(0o770 if unsafe == "group-writable directory" else 0o700)
        path.chmod(0o666 if unsafe == "world-writable file" else 0o600)
    built = parser_cache.load_or_build("p.pickle", _build, directory)
    assert built.parse("a")
    assert not marker.exists()


@pytest.mark.skipif(not AS_ROOT, reason="making a directory another user owns needs root")
def test_a_cache_directory_another_user_owns_is_ignored(tmp_path):
    directory = tmp_path / "cnndsl"
    marker = tmp_path / "ran"
    path = _plant(directory, "p.pickle", marker)
    directory.chmod(0o700)
    path.chmod(0o600)
    os.chown(path, 65534, 65534)
    os.chown(directory, 65534, 65534)
    assert parser_cache.load_or_build("p.pickle", _build, directory).parse("a")
    assert not marker.exists()


def test_a_damaged_cache_is_rebuilt(tmp_path):
    directory = tmp_path / "cnndsl"
    directory.mkdir(mode=0o700)
    (directory / "p.pickle").write_bytes(b"\x80\x05not a pickle")
    (directory / "p.pickle").chmod(0o600)
    assert parser_cache.load_or_build("p.pickle", _build, directory).parse("a")
    assert parser_cache.load_or_build("p.pickle", _build, directory).parse("a")


def test_the_cache_key_covers_grammar_and_options():
    grammar = parser.grammar_path().read_text(encoding="utf-8")
    names = {parser_cache.key(grammar, "options"), parser_cache.key(grammar + " ", "options"),
             parser_cache.key(grammar, "other options")}
    assert len(names) == 3
