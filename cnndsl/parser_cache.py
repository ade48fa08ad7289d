"""The parser's LALR tables, cached in the user's own cache directory.

Building the tables costs more than the rest of a small ``check`` (about
55 ms of 0.4 s here); loading them takes 5 ms. lark's own ``cache=True``
is not used: it keeps a pickle at a predictable name in the shared temp
directory and unpickles it first, so anyone who can write there runs code
as whoever runs cnndsl next (issue 18).

Here the cache is ``$XDG_CACHE_HOME/cnndsl`` (else ``~/.cache/cnndsl``),
created 0700, and a pickle is read only if the directory and the file are
owned by this user and writable by no one else. The checks are made on
the opened descriptors (``fstat``, ``O_NOFOLLOW``, paths relative to the
directory's descriptor), so nothing can be swapped in between check and
read. Anything else (a directory someone else owns, a group-writable one,
a symlink, no home, a platform without ``dir_fd``) means the parser is
built in memory: slower, never unsafe.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import secrets
import stat
import sys
from pathlib import Path
from typing import Callable

import lark

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_SUPPORTED = bool(_NOFOLLOW and _DIRECTORY) and os.open in os.supports_dir_fd and hasattr(os, "getuid")


def cache_dir() -> Path | None:
    """Where this user's cache lives, or None if there is no such place."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative value is ignored
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "cnndsl"


def key(*parts: str) -> str:
    """A file name for the tables of this grammar, lark and Python: any change is a new file."""
    text = "\0".join((*parts, lark.__version__, "%d.%d" % sys.version_info[:2]))
    return "parser-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] + ".pickle"


def load_or_build(name: str, build: Callable[[], lark.Lark],
                  directory: Path | None = None) -> lark.Lark:
    """The parser saved as ``name`` in ``directory`` (default :func:`cache_dir`) if
    it is there and private, else ``build()``, saved there for next time."""
    directory = directory or cache_dir()
    dir_fd = _open_private_dir(directory) if _SUPPORTED and directory else None
    if dir_fd is None:
        return build()
    try:
        parser = _read(dir_fd, name)
        if parser is None:
            parser = build()
            _write(dir_fd, name, parser)
        return parser
    finally:
        os.close(dir_fd)


def _private(st: os.stat_result) -> bool:
    """Owned by this user and writable by no one else."""
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _open_private_dir(directory: Path) -> int | None:
    try:
        directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY | _DIRECTORY | _NOFOLLOW)
    except OSError:
        return None
    if _private(os.fstat(fd)):
        return fd
    os.close(fd)
    return None


def _read(dir_fd: int, name: str) -> lark.Lark | None:
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        return None  # absent, or a symlink (ELOOP)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not (stat.S_ISREG(st.st_mode) and _private(st)):
            return None
        try:
            return lark.Lark.load(f)
        except Exception:  # noqa: BLE001 (truncated or from another version: rebuild)
            return None


def _write(dir_fd: int, name: str, parser: lark.Lark) -> None:
    """Save atomically (a private temporary, then rename); failing to save is not an error."""
    tmp = f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=dir_fd)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            parser.save(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except (OSError, pickle.PicklingError):
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
