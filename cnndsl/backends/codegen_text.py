"""Text pieces of generated source: names, literals, comments, line layout.

Text from outside (the spec's file name, block calls as written, string
arguments, ``--set`` values) enters the source only through :func:`literal`
(``repr``) or in a comment or docstring escaped by
:func:`cnndsl.diagnostics.visible`, on lines no wider than :data:`WIDTH`
where they can be broken.
"""

from __future__ import annotations

import keyword
import math
import re
import textwrap

from ..diagnostics import visible
from .verify import GeneratedSourceError

WIDTH = 99  # the longest line emitted where a line can be broken

# Names a submodule or a local variable cannot take: Python keywords, the
# attributes every nn.Module already has (`forward`, `training`, `eval`...)
# and the names the generated code itself uses.
_RESERVED_LOCALS = {"self", "torch", "nn", "probe"}


def _module_attributes() -> set[str]:
    import torch.nn as nn  # noqa: PLC0415 (torch is imported only by backends)
    return set(dir(nn.Module())) | {"text"}


def class_name(name: str) -> str:
    """`resnet18` -> `Resnet18`, `my_net` -> `MyNet`: a class name people would write."""
    parts = [p for p in name.replace("-", "_").split("_") if p]
    text = "".join(p[:1].upper() + p[1:] for p in parts) or "Network"
    return text if _identifier(text) and not keyword.iskeyword(text) else f"Net{_safe(text)}"


def _identifier(name: str) -> bool:
    # ASCII only: Python folds other identifiers by NFKC, so `ｘ` would be `x`.
    return name.isascii() and name.isidentifier()


def _safe(name: str) -> str:
    """Any name as an ASCII identifier (the language's names already are)."""
    return name if _identifier(name) else "_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


class _Namer:
    """Sanitises spec names into attribute names, distinct within each parent."""

    def __init__(self):
        self.reserved = _module_attributes()
        self.taken: dict[tuple, dict[str, str]] = {}

    def path(self, node_id: str) -> str:
        out: list[str] = []
        for segment in node_id.split("."):
            names = self.taken.setdefault(tuple(out), {})
            if segment not in names:
                name = _safe(segment)
                while (keyword.iskeyword(name) or name in self.reserved
                       or name in names.values()):
                    name += "_"
                names[segment] = name
            out.append(names[segment])
        return ".".join(out)


def _fit(prefix: str, call: str, indent: int = 8) -> str:
    """`prefix + call` on one line, or black's layout when it is wider than WIDTH."""
    if indent + len(prefix) + len(call) <= WIDTH:
        return prefix + call
    head, _, rest = call.partition("(")
    pad = " " * indent
    return f"{prefix}{head}(\n{pad}    {rest[:-1]}\n{pad})"


def literal(value) -> str:
    """Source for a constructor argument: a Python literal, never pasted text.

    Strings go through ``repr``, which escapes quotes, backslashes and every
    unprintable character; a non-finite float is spelt as a call, since
    ``repr`` gives the bare names ``inf`` and ``nan``.

    >>> literal(("C:\\\\Users", 1.5, True, float("inf")))
    "('C:\\\\\\\\Users', 1.5, True, float('inf'))"
    """
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({str(value)!r})"
    if isinstance(value, (tuple, list)):
        items = ", ".join(literal(v) for v in value)
        if isinstance(value, list):
            return f"[{items}]"
        return f"({items},)" if len(value) == 1 else f"({items})"
    raise GeneratedSourceError(f"cannot write a {type(value).__name__} as a constructor argument")


def _variable(base: str) -> str:
    name = base if _identifier(base) else "x"
    while keyword.iskeyword(name) or name in _RESERVED_LOCALS:
        name += "_"
    return name


def base_name(file: str) -> str:
    """The spec's file name without its folders, split at `/` and `\\` alike: a
    generated file names no machine path (`C:\\Users\\nina\\vgg.cnn` -> `vgg.cnn`)."""
    return next((part for part in reversed(re.split(r"[\\/]", file)) if part), file)


def _comment(text: str, indent: int = 0) -> list[str]:
    """Text as comment lines: escaped by `visible`, so it cannot end the
    comment, start a line or reorder what an editor shows; wrapped at WIDTH."""
    width = WIDTH - indent - 2
    return ["# " + line for line in textwrap.wrap(visible(text), width,
                                                  break_on_hyphens=False)] or ["#"]


def _docstring(text: str, indent: str) -> list[str]:
    """A triple-quoted docstring of ``visible(text)``, wrapped: a
    backslash and a quote are escaped, so nothing in it can end the string."""
    wrapped = textwrap.wrap(visible(text), WIDTH - len(indent) - 3, break_on_hyphens=False)
    escaped = [line.replace("\\", "\\\\").replace('"', '\\"') for line in wrapped or [""]]
    if len(escaped) == 1 and len(indent) + len(escaped[0]) + 6 <= WIDTH:  # PEP 257: one line
        return [f'{indent}"""{escaped[0]}"""']
    lines = [indent + ('"""' if i == 0 else "") + line for i, line in enumerate(escaped)]
    return lines + [indent + '"""']


def _split(args: str) -> list[str]:
    """Arguments split at their top-level commas: one a line."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(args):
        depth += c in "([{"
        depth -= c in ")]}"
        if c == "," and depth == 0:
            parts.append(args[start:i].strip())
            start = i + 1
    return parts + [args[start:].strip()]


def _wrap(line: str) -> str:
    """An __init__ line (`self.a = nn.X(...)`, `    name=nn.X(...),`) in black's layout
    when it is wider than WIDTH."""
    if len(line) + 8 <= WIDTH:
        return line
    body = line.rstrip(",")
    comma = "," * (len(line) - len(body))
    match = re.match(r"^(\s*(?:self\.[\w.]+ = |\w+=))([\w.]+\(.*\))$", body)
    if match is None:
        return line
    prefix, call = match.groups()
    lead = " " * (len(prefix) - len(prefix.lstrip()))
    head, _, rest = call.partition("(")
    args = rest[:-1]
    if len(lead) + 12 + len(args) <= WIDTH:
        return f"{prefix}{head}(\n{lead}    {args}\n{lead}){comma}"
    inner = "\n".join(f"{lead}    {part}," for part in _split(args))
    return f"{prefix}{head}(\n{inner}\n{lead}){comma}"
