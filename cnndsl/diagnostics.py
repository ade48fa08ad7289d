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
        return "\n".join(render(d, self.sources) for d in self.diagnostics)


@dataclass
class Sources:
    """The text of every file a run read, so diagnostics can quote it."""

    texts: dict[str, str] = field(default_factory=dict)

    def line(self, file: str, number: int) -> str | None:
        text = self.texts.get(file)
        if text is None:
            return None
        lines = text.splitlines()
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
            shown = line.expandtabs(4)
            start = len(line[: s.column - 1].expandtabs(4))
            end_col = s.end_column if s.end_line == s.line else len(line) + 1
            width = max(1, len(line[: max(end_col - 1, s.column - 1)].expandtabs(4)) - start)
            marker = " " * start + "^" * width + (f" {d.label}" if d.label else "")
            body += [f"{gutter} |", f"{s.line} | {shown}".rstrip(), f"{gutter} | {marker}".rstrip()]
        elif d.label:
            body.append(f"{gutter} = {d.label}")
    pad = " " * (len(str(d.span.line)) + 1 if d.span else 1)
    body += [f"{pad}= note: {n}" for n in d.notes]
    if d.help:
        body.append(f"{pad}= help: {d.help}")
    return "\n".join(body)


def suggest(name: str, candidates) -> str:
    """A ' did you mean `x`?' hint for a misspelt name, or ''."""
    import difflib

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""
