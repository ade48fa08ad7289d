"""`cnndsl fmt FILE...`: rewrite specs in the canonical layout (cnndsl.fmt).

Files are replaced atomically and only when their layout changes; a
directory stands for the `.cnn` files under it. `--check` writes nothing,
prints a unified diff of each file that is not formatted and exits 1.
`-` reads standard input and writes the result to standard output.
A spec that does not parse is left alone: its diagnostics go to stderr
and the exit status is 1 (2 for a file that cannot be read or written).
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

HELP = "rewrite specs in the one canonical layout (--check: diff, exit 1 if any would change)"


def add_arguments(parser) -> None:
    from ..files import DEFAULT_MAX_BYTES  # noqa: PLC0415
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help=".cnn files or directories of them, or - for standard input")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; show a diff and exit 1 if a file is not formatted")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, metavar="N",
                        help=f"refuse specs of more bytes (default {DEFAULT_MAX_BYTES:,})")


def run(args) -> int:
    from ..cli import UsageError  # noqa: PLC0415
    if args.max_bytes < 1:
        raise UsageError("--max-bytes takes a positive integer")
    if args.files.count("-") and len(args.files) > 1:
        raise UsageError("`-` (standard input) cannot be formatted with other files")
    status = 0
    for name in _expand(args.files):
        status = max(status, _one(name, args))
    return status


def _expand(names: list[str]) -> list[str]:
    out = []
    for name in names:
        path = Path(name)
        if name != "-" and path.is_dir():
            out += sorted(str(p) for p in path.rglob("*.cnn") if p.is_file())
        else:
            out.append(name)
    return out


def _one(name: str, args) -> int:
    """Format one file; its exit status (0, 1 not formatted or not a spec, 2 unreadable)."""
    from ..diagnostics import CnnError, visible  # noqa: PLC0415
    from ..files import OutputError, atomic_write  # noqa: PLC0415
    from ..fmt import format_source  # noqa: PLC0415
    from ..network import read_spec  # noqa: PLC0415
    stdin = name == "-"
    shown = "standard input" if stdin else visible(name)
    try:
        file, text = read_spec("<stdin>", args.max_bytes, stream=sys.stdin.buffer) if stdin \
            else read_spec(name, args.max_bytes)
        formatted = format_source(text, file)
    except CnnError as err:
        print(err.render(), file=sys.stderr)
        print(f"\ncnndsl fmt: {shown} is not a valid spec: left as it is", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"cnndsl: error: cannot read {visible(repr(name))}: {err.strerror}", file=sys.stderr)
        return 2
    if args.check:
        if formatted == text:
            return 0
        sys.stdout.writelines(diff(text, formatted, "<stdin>" if stdin else name))
        print(f"cnndsl fmt: {shown} is not formatted", file=sys.stderr)
        return 1
    if stdin:
        sys.stdout.write(formatted)
        return 0
    if formatted == text:
        return 0
    try:
        atomic_write(name, formatted)
    except (OSError, OutputError) as err:
        print(f"cnndsl: error: cannot write {visible(repr(name))}: "
              f"{getattr(err, 'strerror', None) or err}", file=sys.stderr)
        return 2
    print(f"reformatted {shown}", file=sys.stderr)
    return 0


def diff(before: str, after: str, name: str) -> list[str]:
    """A unified diff, every line made safe for a terminal (spec text is outside text)."""
    from ..diagnostics import visible  # noqa: PLC0415
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(),
                                 f"{name}", f"{name} (formatted)", lineterm="")
    return [visible(line) + "\n" for line in lines]
