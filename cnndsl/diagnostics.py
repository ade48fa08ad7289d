"""Source spans, diagnostics and their rustc-style rendering.

Every error a user can cause ends up here as a :class:`Diagnostic` with a
code, a span and optional labels, notes and help, raised together in one
:class:`CnnError`. Rendering follows rustc/Elm::

    error[E0301]: cannot concatenate paths with different spatial sizes
      --> specs/googlenet.cnn:14:9
       |
    14 |         path { conv(c2[1], k=3) relu }
       |         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ this path yields 128x26x26
       = note: the other paths yield 28x28
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field


# Every code a diagnostic can carry, with a short title, in one place:
# docs/errors.md and the golden tests are checked against this table.
# E01xx text, E02xx names and arguments, E03xx shapes, E04xx limits; a
# W is a warning in the same families, which `check` shows but fails on
# only with --strict.
CODES: dict[str, str] = {
    "E0101": "syntax error",
    "E0102": "unexpected character",
    "E0103": "the file is not valid UTF-8",
    "E0201": "unknown layer or block",
    "E0202": "unknown argument",
    "E0203": "argument given twice",
    "E0204": "missing argument",
    "E0205": "too many or misplaced positional arguments",
    "E0206": "wrong argument type or value",
    "E0207": "block called with the wrong number of arguments",
    "E0208": "recursive block",
    "E0209": "unknown name, attribute or function",
    "E0210": "duplicate name",
    "E0211": "unknown tensor name",
    "E0212": "unknown network parameter in --set",
    "E0213": "network parameter without a value",
    "E0214": "bad input shape",
    "E0215": "no output in eval mode",
    "E0301": "concat of mismatched shapes",
    "E0302": "add of mismatched shapes",
    "E0303": "linear layer on a CxHxW tensor",
    "E0304": "empty output",
    "E0305": "spatial layer on a flat tensor",
    "E0306": "channels not divisible by groups",
    "E0307": "expression error",
    "E0308": "shapes that do not broadcast",
    "E0309": "input too small for the layer",
    "E0401": "too many layers",
    "E0402": "too many expansion steps",
    "E0403": "nesting too deep",
    "E0404": "parameters do not fit in memory",
    "E0405": "spec too large",
    "W0301": "receptive fields of merged paths not aligned",
    "W0302": "pooling discards pixels",
    "W0303": "dropout after the last learnable layer",
    "W0304": "layers that reach no output",
    "W0305": "arguments in PyTorch's order",
    "W0401": "parameters would not fit in memory",
}


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file; lines and columns are 1-based, end exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None
    label: str = ""
    notes: tuple[str, ...] = ()
    help: str = ""
    severity: str = "error"  # or "warning"

    def with_notes(self, *notes: str) -> "Diagnostic":
        return Diagnostic(self.code, self.message, self.span, self.label,
                          self.notes + tuple(notes), self.help, self.severity)

    def to_json(self) -> dict:
        out = {"severity": self.severity, "code": self.code, "message": self.message}
        if self.span is not None:
            out.update(file=self.span.file, line=self.span.line, column=self.span.column,
                       end_line=self.span.end_line, end_column=self.span.end_column)
        if self.label:
            out["label"] = self.label
        if self.notes:
            out["notes"] = list(self.notes)
        if self.help:
            out["help"] = self.help
        return out


_ALLOW = re.compile(r"#.*?\ballow:\s*([A-Z0-9, ]+)")


def allowed_codes(line: str | None) -> set[str]:
    """The warning codes a spec line allows in its comment: `maxpool(3, s=2)  # allow: W0302`."""
    found = _ALLOW.search(line or "")
    return {c.strip() for c in found.group(1).split(",") if c.strip()} if found else set()


def split_allowed(warnings: list, sources: "Sources", codes=frozenset()) -> tuple[list, list]:
    """(shown, allowed): a warning is allowed by ``codes`` (`--allow W0302`), or by an
    `# allow: CODE` comment on the line it points at or on a comment line just above it."""
    shown, allowed = [], []
    for w in warnings:
        ok = w.code in codes
        if not ok and w.span is not None:
            here = sources.line(w.span.file, w.span.line)
            above = sources.line(w.span.file, w.span.line - 1) if w.span.line > 1 else None
            ok = w.code in allowed_codes(here) or (
                (above or "").lstrip().startswith("#") and w.code in allowed_codes(above))
        (allowed if ok else shown).append(w)
    return shown, allowed


class CnnError(Exception):
    """Raised with every diagnostic of a failed run; ``str()`` renders them."""

    def __init__(self, diagnostics: list[Diagnostic], sources: "Sources | None" = None):
        self.diagnostics = list(diagnostics)
        self.sources = sources or Sources()
        super().__init__(self.render())

    def render(self) -> str:
        return "\n\n".join(render(d, self.sources) for d in self.diagnostics)


def split_lines(text: str) -> list[str]:
    r"""The lines of a spec as the parser numbers them: lark counts only ``\n``.

    ``str.splitlines`` also breaks at ``\r``, form feed, U+2028 and more,
    which would put a quoted line and its caret out of step with the line
    number lark reports. The ``\r`` of a Windows line end is not part of
    the line.

    >>> split_lines("a\r\nb\x0cc\u2028d\n")
    ['a', 'b\x0cc\u2028d', '']
    """
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


@dataclass
class Sources:
    """The text of every file a run read, so diagnostics can quote it."""

    texts: dict[str, str] = field(default_factory=dict)
    # Split once per file: the elaborator quotes a line for every block call.
    _lines: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False,
                                         compare=False)

    def line(self, file: str, number: int) -> str | None:
        """Line ``number`` of ``file`` as lark counts lines (raw text); None for
        a file never read."""
        lines = self._lines.get(file)
        if lines is None:
            text = self.texts.get(file)
            if text is None:
                return None
            lines = self._lines[file] = split_lines(text)
        return lines[number - 1] if 0 < number <= len(lines) else ""


def render(d: Diagnostic, sources: Sources) -> str:
    """The diagnostic as rustc shows it. Spec text reaches it in the message,
    label, notes and help (names, strings, block calls) and in the file name:
    all of it passes through :func:`visible` here, so no producer can forget."""
    head = f"{d.severity}[{d.code}]: {visible(d.message)}"
    label = visible(d.label)
    if d.span is None:
        body = [head]
    else:
        s = d.span
        line = sources.line(s.file, s.line)
        gutter = " " * len(str(s.line))
        body = [head, f"{gutter}--> {visible(str(s))}"]
        if line is not None:
            # Tabs expand before escaping and columns are counted on the
            # escaped text, so the caret stays under the span.
            def width(chars: int) -> int:
                return len(visible(line[:chars].expandtabs(4)))

            shown = visible(line.expandtabs(4))
            start = width(s.column - 1)
            end_col = s.end_column if s.end_line == s.line else len(line) + 1
            size = max(1, width(max(end_col - 1, s.column - 1)) - start)
            shown, start, size = _window(shown, start, size)
            marker = " " * start + "^" * size + (f" {label}" if label else "")
            body += [f"{gutter} |", f"{s.line} | {shown}".rstrip(), f"{gutter} | {marker}".rstrip()]
        elif label:
            body.append(f"{gutter} = {label}")
    pad = " " * (len(str(d.span.line)) + 1 if d.span else 1)
    body += [f"{pad}= note: {visible(n)}" for n in d.notes]
    if d.help:
        body.append(f"{pad}= help: {visible(d.help)}")
    return "\n".join(body)


def visible(text: str) -> str:
    r"""Text from outside (spec text, a file name) made safe to show on one line.

    Every character Python would not print as itself is written as its
    escape (``\x1b``, ``\u202e``): control characters (ESC, NUL, CR, form
    feed, newline, tab), format characters (the bidi overrides and isolates
    U+202A-U+202E and U+2066-U+2069, the marks U+200E, U+200F and U+061C, a
    BOM) and the separators U+2028 and U+2029. So spec text cannot clear or
    rewrite the terminal, reorder what is shown (Trojan Source,
    CVE-2021-42574) or start a new line. The summary table, the diagnostics
    and the comments of generated code all show spec text through here.

    >>> print(visible('b("\x1b[2J")  # \u202eevil'))
    b("\x1b[2J")  # \u202eevil
    """
    if text.isprintable():  # the usual case, and fast
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


SHOWN_WIDTH = 100  # longer source lines are cut to a window around the span


def _window(line: str, start: int, width: int) -> tuple[str, int, int]:
    """Cut a long source line to the part around the span, marked with `...`."""
    if len(line) <= SHOWN_WIDTH:
        return line, start, width
    first = max(0, min(start - 20, len(line) - SHOWN_WIDTH))
    last = first + SHOWN_WIDTH
    head = "..." if first > 0 else ""
    tail = "..." if last < len(line) else ""
    width = max(1, min(width, last - start))
    return head + line[first:last] + tail, start - first + len(head), width


def suggest(name: str, candidates) -> str:
    """A ' did you mean `x`?' hint for a misspelt name, or ''."""
    import difflib

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""
