"""One open spec as the server sees it: checked as `cnndsl check` checks it, and the
last version that checked, kept so that a broken line does not wipe the rest.

:func:`check` runs the CLI's own code path (:func:`cnndsl.network.loads`):
its errors are the ``CnnError``'s diagnostics, its warnings the network's.
An :class:`Analysis` holds the result; the index of names (which needs a
second parse, with every token) is built only when a request needs it.
:class:`LineMap` carries a position between the last good version and the
current text through the lines they share.
"""

from __future__ import annotations

import difflib
import functools
import gc
import re
from dataclasses import dataclass

from ..diagnostics import CnnError, Diagnostic, split_lines


@dataclass
class Analysis:
    text: str
    file: str
    net: object | None  # the Network, when the spec checks
    graph: object | None  # the network's graph, or the partial one of a failed elaboration
    diagnostics: list[Diagnostic]
    parsed: bool  # the text parses (the index can be built from it)

    @functools.cached_property
    def lines(self) -> list[str]:
        return split_lines(self.text)

    @functools.cached_property
    def index(self):
        """The names, blocks, symbols and token classes of the text (None if it does not parse)."""
        if not self.parsed:
            return None
        from ..fmt import _lark, _prepare, _tokens, _comments  # the parser with every token
        from ..ops import NAMES
        from . import index
        text = _prepare(self.text)
        tree = _lark().parse(text)
        return index.build(tree, text, _comments(text, _tokens(tree)), NAMES.__contains__)

    @functools.cached_property
    def nodes_by_line(self) -> dict[int, list]:
        """0-based line -> [(span, node id)] of every node whose statement starts there."""
        out: dict[int, list] = {}
        if self.graph is None:
            return out
        for node, data in self.graph.nodes(data=True):
            span = data.get("span")
            if span is None or span.file != self.file or node == "input":
                continue
            out.setdefault(span.line - 1, []).append((span, node))
        return out

    @functools.cached_property
    def calls(self) -> dict[tuple[int, int], list]:
        """(line, column) of a block call, 1-based -> [(node id, depth in its chain)]."""
        out: dict[tuple[int, int], list] = {}
        if self.graph is None:
            return out
        pattern = re.compile(r"called from " + re.escape(self.file) + r":(\d+):(\d+)$")
        for node, data in self.graph.nodes(data=True):
            for depth, note in enumerate(data.get("chain", ())):
                m = pattern.search(note)
                if m:
                    out.setdefault((int(m.group(1)), int(m.group(2))), []).append((node, depth))
        return out


def check(text: str, file: str, max_nodes: int | None = None) -> Analysis:
    """Check ``text`` as `cnndsl check` would; never raises for a bad spec."""
    from ..network import loads
    options = {} if max_nodes is None else {"max_nodes": max_nodes}
    # As `cnndsl check` does: the cyclic collector would rescan the graph being
    # built over and over (about a tenth of a re-check); it runs again after.
    enabled = gc.isenabled()
    gc.disable()
    try:
        net = loads(text, file, **options)
    except CnnError as err:
        # Elaboration's errors carry the graph built so far; the parser's carry none.
        graph = getattr(err, "graph", None)
        return Analysis(text, file, None, graph, list(err.diagnostics), graph is not None)
    except RecursionError:  # the parser's limits should make this impossible: say so, in place
        d = Diagnostic("E0403", "the spec nests too deep to check", None)
        return Analysis(text, file, None, None, [d], False)
    finally:
        if enabled:
            gc.enable()
    return Analysis(text, file, net, net.graph, list(net.warnings), True)


class LineMap:
    """Maps 0-based lines between an old text and a new one, through identical lines."""

    def __init__(self, old: list[str], new: list[str]):
        self.old_to_new: dict[int, int] = {}
        self.new_to_old: dict[int, int] = {}
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        for a, b, size in matcher.get_matching_blocks():
            for i in range(size):
                self.old_to_new[a + i] = b + i
                self.new_to_old[b + i] = a + i

    def to_old(self, line: int) -> int | None:
        return self.new_to_old.get(line)

    def to_new(self, line: int) -> int | None:
        return self.old_to_new.get(line)

    def range_to_new(self, r):
        start, end = self.to_new(r[0]), self.to_new(r[2])
        if start is None or end is None:
            return None
        return start, r[1], end, r[3]


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\S")


def word_range(lines: list[str], line: int, column: int) -> tuple[int, int, int, int]:
    """The word (or one character) at 1-based ``line``:``column``, as a 0-based range."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    m = _WORD.match(text, max(column - 1, 0))
    end = m.end() if m else column
    return line - 1, column - 1, line - 1, max(end, column)


def place(note: str, file: str) -> tuple[int, int] | None:
    """The 1-based (line, column) in ``file`` that a note names (`called from f:3:5`,
    `defined at f:1:7`, `first used at f:2:1`), or None."""
    m = re.search(re.escape(file) + r":(\d+):(\d+)", note)
    return (int(m.group(1)), int(m.group(2))) if m else None
