"""Names a spec gives: `stage NAME`, `path NAME`, `... as NAME`, `output NAME`.

Written as is or computed (`stage "layer{i + 1}"`), each is taken in its
scope (outputs in the whole network); a name taken twice is E0210, which
says which loop repeats it and what to write instead. A mixin of the
elaborator: it reads the loops being expanded (``self.turns``) and reports
through ``self._error``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import nodes as n
from .diagnostics import Span
from .expressions import POISON, kind_of, show_value
from .parser import is_name, show_text

if TYPE_CHECKING:
    from .elaborate import Scope


class Naming:
    def _local_name(self, s: n.Layer, scope: Scope, base: str, frame, cur) -> str | None:
        if s.alias is None:
            return scope.fresh(base)
        return self._declare(s.alias, "as", s.span, scope, frame, cur)

    def _declare(self, written: n.Name, kind: str, span: Span, scope: Scope, frame,
                 cur) -> str | None:
        """The name a `stage`, `path` or `as` gives (computed if need be), now taken in
        ``scope``; None after an error (it is not a name, or it is taken)."""
        name = written if isinstance(written, str) else self._compute_name(written, frame, cur)
        if name is None:
            return None
        if name in scope.used:
            self._duplicate(name, written, kind, span, scope, frame)
            return None
        scope.used.add(name)
        scope.origins[name] = span, tuple(map(tuple, self.turns))
        return name

    def _compute_name(self, template: n.Template, frame, cur) -> str | None:
        pieces = []
        for part in template.parts:
            if isinstance(part, str):
                pieces.append(part)
                continue
            v = self._eval(part, frame.env, frame, cur)
            if v is POISON:
                return None
            if isinstance(v, bool) or not isinstance(v, (int, str)):
                self._error("E0206", f"a computed name takes integers and strings, got "
                            f"{kind_of(v)}", part.span, f"this is {show_value(v)}", frame=frame)
                return None
            pieces.append(str(v))
        if not template.parts:
            return None  # its syntax error is reported
        name = "".join(pieces)
        if not template.names_only:
            if not name:
                self._error("E0206", f"`{template.text}` gives an empty name", template.span,
                            frame=frame)
                return None
            return name
        if not is_name(name):
            self._error("E0206", f"`{template.text}` gives {show_text(name)}, which is not a name",
                        template.span, help="a name is letters, digits and `_`, not starting "
                        "with a digit", frame=frame)
            return None
        return name

    def _duplicate(self, name: str, written: n.Name, kind: str, span: Span, scope: Scope, frame):
        """E0210, saying which loop repeats the name when one does, and what to write."""
        first = scope.origins.get(name)
        loop = None
        if first is not None and first[0] == span:
            # The same statement gave the name twice: a loop ran it again.
            loop = next(((s, i, j) for (s, i), (t, j) in zip(first[1], self.turns)
                         if s is t and i != j), None)
        if loop is None:
            notes = ()
            if first and (self.turns or first[1]):  # (outside loops, as it always was)
                notes = (f"first used at {first[0]}" + "".join(
                    f", in turn {i + 1} of the loop at {s.span}" for s, i in first[1][-1:]),)
            self._error("E0210", f"the name `{name}` is already used here", span, notes=notes,
                        frame=frame)
            return
        s, before, now = loop
        where = f"the `{'for' if isinstance(s, n.For) else 'repeat'}` loop at {s.span}"
        what = "this layer" if kind == "as" else f"this `{kind}`"
        if isinstance(written, n.Template):
            note = (f"`{written.text}` gives `{name}` in turn {now + 1} of {where}, as it did "
                    f"in turn {before + 1}")
            help = "make the name change from turn to turn: put the loop variables in it"
        else:
            note = f"{where} runs {what} once per turn, with the same name each time"
            help = _per_turn(name, kind, s, self._text)
        self._error("E0210", f"the name `{name}` is already used here, by an earlier turn of "
                    "the loop", span, notes=(note,), help=help, frame=frame)


def _per_turn(name: str, kind: str, loop, text) -> str:
    """The help that says what to write for ``loop`` to give a name per turn."""
    if isinstance(loop, n.For):
        template = name + "_".join(f"{{{t}}}" for t in loop.targets)
    else:  # `repeat` has no loop variable: a `for` over a range has one
        template = name + "{i}"
    written = {"as": f'`... as "{template}"`', "stage": f'`stage "{template}" {{ ... }}`',
               "path": f'`path "{template}" {{ ... }}`', "output": f'`output "{template}"`'}[kind]
    if isinstance(loop, n.For):
        return f"compute a name per turn: {written}"
    return (f"loop with `for i in range({text(loop.count.span)}) {{ ... }}` and compute a name "
            f"per turn: {written}")
