"""Running Graphviz's `dot`: formats, a time limit, and errors in one line.

:func:`render` runs `dot` in its own process group with a time limit; past
it, `dot` and anything it started are killed (:class:`DotTimeout`). A
missing `dot` (:class:`DotMissing`) or a failing one (:class:`DotFailed`)
is a :class:`~cnndsl.backends.diagram.DrawError` naming what to do.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

from .diagram import DrawError

FORMATS = ("dot", "svg", "png", "pdf")
LABEL_MAX = 240  # characters of one label line: a label is read, not searched
TIMEOUT = 60.0  # seconds `dot` may take by default (2,000 boxes take about one)
DPI_RANGE = (24, 600)  # a png's resolution: past 600, a large diagram runs to gigapixels


def printable(text: str) -> str:
    """Spec text as a label shows it: cut to LABEL_MAX, and control, format and
    separator characters (ESC, NUL, a right-to-left override, U+2028) written as
    `\\x1b`, `\\u202e`, so none reaches dot, the svg or a terminal raw."""
    text = str(text)
    if len(text) > LABEL_MAX:
        text = text[: LABEL_MAX - 1] + "…"
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def format_for(path: str) -> str | None:
    """The output format a file name asks for (`net.svg` -> "svg"), or None."""
    suffix = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else ""
    suffix = "dot" if suffix == "gv" else suffix
    return suffix if suffix in FORMATS else None


class DotMissing(DrawError):
    """Graphviz's `dot` program is not installed."""


class DotTimeout(DrawError):
    """`dot` ran past its time limit (and was stopped)."""


class DotFailed(DrawError):
    """`dot` could not be run, or exited with an error."""


def render(source: str, fmt: str, *, timeout: float | None = TIMEOUT,
           dpi: int | None = None) -> bytes:
    """Run `dot` on ``source``; ``fmt`` is one of FORMATS ("dot" returns the source).

    `dot` gets ``timeout`` seconds (None: no limit); past it, it and anything
    it started are killed and :class:`DotTimeout` is raised. ``dpi`` sets a png's
    resolution (dot's default is 96, a screen's); the source itself is unchanged.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if dpi is not None and (fmt != "png" or not DPI_RANGE[0] <= dpi <= DPI_RANGE[1]):
        raise ValueError(f"dpi applies to png only, from {DPI_RANGE[0]} to {DPI_RANGE[1]}")
    if fmt == "dot":
        return source.encode("utf-8")
    exe = shutil.which("dot")
    if exe is None:
        raise DotMissing("rendering needs Graphviz's `dot` program: install it with "
                         "`apt-get install graphviz` or `brew install graphviz`, "
                         "or write .dot source instead")
    try:
        # Its own process group, so that a timeout stops whatever `dot` started too.
        command = [exe, f"-T{fmt}"] + ([f"-Gdpi={int(dpi)}"] if dpi is not None else [])
        proc = subprocess.Popen(command, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=os.name == "posix")
    except OSError as err:
        raise DotFailed(f"cannot run {exe}: {err.strerror}") from None
    try:
        out, err = proc.communicate(source.encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise DotTimeout(f"`dot` did not finish within {timeout:g} s: draw less with "
                         "--depth N (blocks collapsed), or write .dot source instead") from None
    except BaseException:  # Ctrl-C: leave no `dot` running
        _stop(proc)
        raise
    if proc.returncode != 0:
        lines = err.decode("utf-8", "replace").splitlines()
        first = next((x for x in lines if x.startswith("Error")), lines[0] if lines else "")
        raise DotFailed(f"`dot` failed (exit status {proc.returncode}): {printable(first)}")
    return out


def _stop(proc) -> None:
    """Kill `dot` and its process group, reap it, close its pipes (never waits on them)."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except OSError:
        pass  # already gone
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        try:
            pipe.close()
        except OSError:
            pass
