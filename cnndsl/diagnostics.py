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
    "E0301": "concat of mismatched shapes",
    "E0302": "add of mismatched shapes",
    "E0303": "linear layer on a CxHxW tensor",
    "E0304": "empty output",
    "E0305": "spatial layer on a flat tensor",
    "E0306": "channels not divisible by groups",
    "E0307": "expression error",
    "E0401": "too many layers",
    "E0402": "too many expansion steps",
    "E0403": "nesting too deep",
    "E0404": "parameters do not fit in memory",
    "W0301": "receptive fields of merged paths not aligned",
    "W0302": "pooling discards pixels",
    "W0303": "dropout after the last learnable layer",
    "W0401": "parameters would not fit in memory",
}


@dataclass(frozen=True)
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
            out.update(file=self.span.file, line=self.span.line, column=self.span.column)
        if self.label:
            out["label"] = self.label
        if self.notes:
            out["notes"] = list(self.notes)
        if self.help:
            out["help"] = self.help
        return out


class CnnError(Exception):
    """Raised with every diagnostic of a failed run; ``str()`` renders them."""

    def __init__(self, diagnostics: list[Diagnostic], sources: "Sources | None" = None):
        self.diagnostics = list(diagnostics)
        self.sources = sources or Sources()
        super().__init__(self.render())

    def render(self) -> str:
        return "\n\n".join(render(d, self.sources) for d in self.diagnostics)


@dataclass
class Sources:
    """The text of every file a run read, so diagnostics can quote it."""

    texts: dict[str, str] = field(default_factory=dict)
    # Split once per file: the elaborator quotes a line for every block call.
    _lines: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False,
                                         compare=False)

    def line(self, file: str, number: int) -> str | None:
        lines = self._lines.get(file)
        if lines is None:
            text = self.texts.get(file)
            if text is None:
                return None
            lines = self._lines[file] = text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else ""


def render(d: Diagnostic, sources: Sources) -> str:
    head = f"{d.severity}[{d.code}]: {d.message}"
    if d.span is None:
        body = [head]
    else:
        s = d.span
        line = sources.line(s.file, s.line)
        gutter = " " * len(str(s.line))
        body = [head, f"{gutter}--> {s}"]
        if line is not None:
            line = _visible(line)
            shown = line.expandtabs(4)
            start = len(line[: s.column - 1].expandtabs(4))
            end_col = s.end_column if s.end_line == s.line else len(line) + 1
            width = max(1, len(line[: max(end_col - 1, s.column - 1)].expandtabs(4)) - start)
            shown, start, width = _window(shown, start, width)
            marker = " " * start + "^" * width + (f" {d.label}" if d.label else "")
            body += [f"{gutter} |", f"{s.line} | {shown}".rstrip(), f"{gutter} | {marker}".rstrip()]
        elif d.label:
            body.append(f"{gutter} = {d.label}")
    pad = " " * (len(str(d.span.line)) + 1 if d.span else 1)
    body += [f"{pad}= note: {n}" for n in d.notes]
    if d.help:
        body.append(f"{pad}= help: {d.help}")
    return "\n".join(body)


def _visible(line: str) -> str:
    """The line with control and format characters (NUL, a right-to-left
    override, a BOM) shown as U+FFFD, one for one so columns stay put: a
    quoted line must not reorder or hide what the terminal shows."""
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() or c == "\t" else "\ufffd" for c in line)


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
