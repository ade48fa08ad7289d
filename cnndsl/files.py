"""Writing outputs atomically: a temporary file beside the target, then rename.

A failure leaves any earlier output intact and never a half-written file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputError(Exception):
    """An output path that must not be written (the input spec itself, say)."""


def check_target(target: str | Path, spec: str | Path | None = None) -> Path:
    target = Path(target)
    if spec is not None and target.exists() and target.resolve() == Path(spec).resolve():
        raise OutputError(f"refusing to overwrite the input spec {str(spec)!r}")
    return target


def atomic_write(target: str | Path, data: bytes | str, spec: str | Path | None = None) -> None:
    """Write ``data`` to ``target`` so readers see the old file or the new, never half."""
    target = check_target(target, spec)
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        # mkstemp makes the file private (0600); give it the mode an ordinary
        # write would: the old file's, or 0666 less the umask.
        os.chmod(tmp, _mode_for(target))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
