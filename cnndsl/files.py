"""Reading specs with a size limit, and writing outputs the way a careful `>` would.

Reading: only regular files (a FIFO or /dev/zero could hang or fill
memory; `cnndsl check -` reads standard input on purpose), at most
``max_bytes`` of them, else a clear refusal.

Writing (``-o``): what is at the path decides.

- Nothing, or a regular file: a temporary file beside it, then a rename,
  so readers see the old file or the new one, never half of one. Through
  a symlink, the file it points to is replaced, not the link. A file this
  user may not write (``os.access``, the rule `>` follows) is refused,
  and so is a file with no write permission bit at all, even for root:
  `>` would let root truncate it, but a 0444 file is most often read-only
  on purpose, and renaming over it would go unnoticed.
- A character device or a FIFO (/dev/null, /dev/stdout on a terminal, a
  named pipe): written in place, as `>` does; replacing /dev/null with a
  text file (the old behaviour, as root) is the bug this avoids.
- A directory, a block device or a socket: refused.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

DEFAULT_MAX_BYTES = 16 * 1024 * 1024  # specs are kilobytes; 16 MB is generous


class OutputError(Exception):
    """An output path that must not be written (the input spec itself, say)."""


class TooLarge(Exception):
    """A spec past the byte limit."""

    def __init__(self, name: str, limit: int):
        super().__init__(f"{name} is larger than the limit of {limit:,} bytes")
        self.name, self.limit = name, limit


# ------------------------------------------------------------------ reading


def read_limited(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of the regular file at ``path``; :class:`TooLarge` past ``max_bytes``.

    Anything else (a FIFO, a device, a directory) is an OSError, found
    without reading from it or blocking on it.
    """
    name = os.fspath(path)
    _refuse_non_regular(os.stat(name), name)  # before opening: opening a FIFO blocks
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        _refuse_non_regular(st, name)  # it may have been swapped since the stat
        if st.st_size > max_bytes:
            raise TooLarge(name, max_bytes)
        return read_stream(f, name, max_bytes)


def read_stream(stream, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """At most ``max_bytes`` from a binary stream (stdin for `-`); :class:`TooLarge` if more."""
    data = stream.read(max_bytes + 1)  # one byte more tells "too large" from "exactly the limit"
    if len(data) > max_bytes:
        raise TooLarge(name, max_bytes)
    return data


def _refuse_non_regular(st: os.stat_result, name: str) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file (use `-` to read standard input)", name)


# ------------------------------------------------------------------ writing


def check_target(target: str | Path, spec: str | Path | None = None) -> Path:
    target = Path(target)
    if spec is not None and target.exists() and target.resolve() == Path(spec).resolve():
        raise OutputError(f"refusing to overwrite the input spec {str(spec)!r}")
    return target


def how_to_write(st: os.stat_result | None, name: str) -> str:
    """"replace" (atomically) or "stream" (in place, like `>`) for a target with
    this stat (None: nothing there yet); OutputError if it must not be written."""
    if st is None or stat.S_ISREG(st.st_mode):
        return "replace"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return "stream"
    kind = ("a directory" if stat.S_ISDIR(st.st_mode) else
            "a block device" if stat.S_ISBLK(st.st_mode) else
            "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
    raise OutputError(f"refusing to write {name!r}: it is {kind}")


def atomic_write(target: str | Path, data: bytes | str, spec: str | Path | None = None) -> None:
    """Write ``data`` to ``target``: atomically for files, in place for streams (module docstring)."""
    target = check_target(target, spec)
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        st = os.stat(target)  # follows symlinks: what the link points to decides
    except FileNotFoundError:
        st = None
    if how_to_write(st, str(target)) == "stream":
        # No O_CREAT or O_TRUNC: the device or pipe is there, written as `>` would.
        with open(os.open(target, os.O_WRONLY), "wb") as f:
            f.write(data)
        return
    real = Path(os.path.realpath(target))  # the file itself, beside which the temporary goes
    if st is not None:
        _refuse_read_only(real, st, str(target))
    _replace(real, data, st)


def _refuse_read_only(real: Path, st: os.stat_result, name: str) -> None:
    if not os.access(real, os.W_OK, effective_ids=os.access in os.supports_effective_ids) \
            or not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise OutputError(f"refusing to overwrite {name!r}: it is read-only "
                          f"(mode {stat.filemode(st.st_mode)}); make it writable or choose "
                          f"another output")


def _replace(real: Path, data: bytes, st: os.stat_result | None) -> None:
    # The temporary's name starts with at most 32 characters of the target's,
    # so it stays within NAME_MAX (255 bytes) whatever the target's length.
    fd, tmp = tempfile.mkstemp(prefix=f".{real.name[:32]}.", suffix=".tmp", dir=real.parent)
    try:
        # mkstemp makes the file private (0600); give it the mode an ordinary
        # write would: the old file's, or 0666 less the umask.
        os.chmod(tmp, _mode_for(st))
        if st is not None and hasattr(os, "chown") and os.geteuid() == 0:
            os.chown(tmp, st.st_uid, st.st_gid)  # root keeps the file's owner, as `>` would
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, real)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _mode_for(st: os.stat_result | None) -> int:
    if st is not None:
        return st.st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
