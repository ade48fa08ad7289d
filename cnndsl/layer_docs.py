"""The layer reference in docs/language.md, generated from the op registry.

    python -m cnndsl.layer_docs           # rewrite the section (also `make docs`)
    python -m cnndsl.layer_docs --check   # exit 1 if it is out of date

The section lies between ``<!-- layers:begin -->`` and ``<!-- layers:end -->``;
everything else in the file is hand-written. The test suite fails when the
section differs from what the registry says, so the docs cannot drift from
the ops' own declarations (arguments, aliases, defaults, shape rule), and
each op's example is a spec the suite checks like every other example.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .ops import REGISTRY
from .ops.base import REQUIRED

LANGUAGE = Path(__file__).resolve().parent.parent / "docs" / "language.md"
BEGIN, END = "<!-- layers:begin -->", "<!-- layers:end -->"


def _default(arg) -> str:
    if arg.default is REQUIRED:
        return "required"
    if arg.default is None:
        return arg.doc or "none"
    if isinstance(arg.default, bool):
        return "`true`" if arg.default else "`false`"
    if isinstance(arg.default, str):
        return f'`"{arg.default}"`'  # as a spec writes it
    return f"`{arg.default}`"


def _type(arg) -> str:
    describe = getattr(arg.type, "describe", None)
    return describe() if describe else "any"


def layer_table() -> str:
    """Markdown: one section per registered op, in registry order."""
    out = []
    for name, op in REGISTRY.items():
        if not op.shape_doc:
            raise ValueError(f"op `{name}` declares no shape_doc")
        title = f"### `{name}`"
        if op.aliases:
            title += " (also " + ", ".join(f"`{a}`" for a in op.aliases) + ")"
        out += [title, "", op.doc, "", f"Shape: {op.shape_doc}.", ""]
        if op.args:
            out += ["| argument | aliases | type | default |", "|---|---|---|---|"]
            for a in op.args:
                aliases = ", ".join(f"`{x}`" for x in a.aliases) or ""
                out.append(f"| `{a.name}` | {aliases} | {_type(a)} | {_default(a)} |")
            out.append("")
        else:
            out += ["No arguments.", ""]
        if op.example:
            out += ["```cnn", f"network {name}_example", op.example, "```", ""]
    return "\n".join(out).rstrip() + "\n"


def current(path: Path = LANGUAGE) -> str:
    """The generated section as the file has it now."""
    text = path.read_text("utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip("\n") + "\n"


def update(path: Path = LANGUAGE) -> bool:
    """Rewrite the section; True if it changed."""
    from .files import atomic_write

    text = path.read_text("utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + layer_table() + text[end:]
    if new != text:
        atomic_write(path, new)
    return new != text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--check" in argv:
        ok = current() == layer_table()
        if not ok:
            print(f"stale: {LANGUAGE} (run python -m cnndsl.layer_docs)")
        return 0 if ok else 1
    if update():
        print(f"wrote {LANGUAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
