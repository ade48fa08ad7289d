"""The language server: pygls over stdio, one :class:`~cnndsl.lsp.document.Analysis`
per open document, rechecked after every change (a burst of changes already
received is checked once, at its last text).

Diagnostics are the CLI's (same code path, same codes), with the notes that
name a place (a block's call chain, a first definition) as related
information. Hover, definition, symbols and semantic tokens read the
current text's analysis; while the text is broken they read the last
version that checked, through the lines the two share, so one bad line does
not wipe the rest.
"""

from __future__ import annotations

import asyncio

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from .. import __version__
from ..diagnostics import split_lines, visible
from . import completion, hover
from .document import Analysis, LineMap, check, place, word_range
from .index import TOKEN_MODIFIERS, TOKEN_TYPES

LEGEND = types.SemanticTokensLegend(token_types=TOKEN_TYPES, token_modifiers=TOKEN_MODIFIERS)


class CnnServer(LanguageServer):
    def __init__(self):
        super().__init__("cnndsl", __version__,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.current: dict[str, Analysis] = {}
        self.good: dict[str, Analysis] = {}  # the last version whose text parsed and elaborated
        self.pending: set[str] = set()  # documents changed since their last check
        self.maps: dict[str, tuple] = {}  # uri -> (last good, current, their LineMap)

    # ------------------------------------------------------------ documents
    def schedule(self, uri: str) -> None:
        """Check ``uri`` once the messages already received are handled: a burst of
        keystrokes costs one check of the last text, not one per keystroke."""
        if uri not in self.pending:
            self.pending.add(uri)
            asyncio.get_running_loop().call_soon(self._scheduled, uri)

    def _scheduled(self, uri: str) -> None:
        if uri in self.pending:  # not checked by a request meanwhile, nor closed
            self.fresh(uri)

    def fresh(self, uri: str) -> Analysis:
        """The analysis of the document's current text (checked now if it changed)."""
        if uri in self.pending or uri not in self.current:
            self.pending.discard(uri)
            return self.recheck(uri)
        return self.current[uri]

    def recheck(self, uri: str) -> Analysis:
        doc = self.workspace.get_text_document(uri)
        file = to_fs_path(uri) or uri
        analysis = check(doc.source, file)
        self.current[uri] = analysis
        if analysis.net is not None:
            self.good[uri] = analysis
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, version=doc.version, diagnostics=self.diagnostics(uri, analysis)))
        return analysis

    def diagnostics(self, uri: str, a: Analysis) -> list[types.Diagnostic]:
        out = []
        for d in a.diagnostics:
            if d.span is not None and d.span.file == a.file:
                r = (d.span.line - 1, d.span.column - 1, d.span.end_line - 1, d.span.end_column - 1)
            else:
                r = (0, 0, 0, 0)
            related, notes = [], []
            for note in d.notes:
                where = place(note, a.file)
                if where is not None:
                    line, column = where
                    related.append(types.DiagnosticRelatedInformation(
                        location=types.Location(uri=uri, range=self.to_range(
                            a, word_range(a.lines, line, column))), message=visible(note)))
                else:
                    notes.append(note)
            # Spec text reaches messages: shown escaped, as the CLI shows it (no bidi
            # overrides or control characters in the editor's problem list).
            message = visible(d.message) + (f": {visible(d.label)}" if d.label else "")
            message += "".join(f"\nnote: {visible(n)}" for n in notes)
            message += f"\nhelp: {visible(d.help)}" if d.help else ""
            out.append(types.Diagnostic(
                range=self.to_range(a, r), message=message, code=d.code, source="cnndsl",
                severity=types.DiagnosticSeverity.Error if d.severity == "error"
                else types.DiagnosticSeverity.Warning,
                related_information=related or None))
        return out

    # ------------------------------------------------------------ positions
    def to_range(self, a: Analysis, r) -> types.Range:
        codec = self.workspace.position_codec
        lines = a.lines
        start = codec.position_to_client_units(lines, types.Position(line=r[0], character=r[1]))
        end = codec.position_to_client_units(lines, types.Position(line=r[2], character=r[3]))
        return types.Range(start=start, end=end)

    def from_position(self, a: Analysis, pos: types.Position) -> tuple[int, int]:
        p = self.workspace.position_codec.position_from_client_units(
            a.lines, types.Position(line=pos.line, character=pos.character))
        return p.line, p.character

    def line_map(self, uri: str, old: Analysis, new: Analysis) -> LineMap:
        """The LineMap between two versions, kept while they stay the same two."""
        cached = self.maps.get(uri)
        if cached is None or cached[0] is not old or cached[1] is not new:
            cached = self.maps[uri] = (old, new, LineMap(old.lines, new.lines))
        return cached[2]

    def answer(self, uri: str, position: types.Position, find):
        """The first ``(value, range)`` that ``find(analysis, line, col)`` gives, from
        the current analysis or else the last good one, with its range mapped to the
        current text (None where that text no longer has it); None if neither answers."""
        current = self.fresh(uri)
        line, col = self.from_position(current, position)
        for a, at, lines in self.views(uri, line):
            found = find(a, at, col)
            if found is None:
                continue
            value, r = found
            if lines is not None and r is not None:
                r = lines.range_to_new(r)
            return value, self.to_range(current, r) if r is not None else None
        return None

    def views(self, uri: str, line: int):
        """(analysis, line in it, map back or None) to answer a request at ``line``: the
        current analysis if it has what is asked, else the last good one, through a LineMap."""
        a = self.fresh(uri)
        yield a, line, None
        good = self.good.get(uri)
        if good is not None and good is not a:
            lines = self.line_map(uri, good, a)
            old = lines.to_old(line)
            if old is not None:
                yield good, old, lines


SERVER = CnnServer()


@SERVER.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: CnnServer, params: types.DidOpenTextDocumentParams):
    ls.recheck(params.text_document.uri)


@SERVER.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: CnnServer, params: types.DidChangeTextDocumentParams):
    ls.schedule(params.text_document.uri)


@SERVER.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: CnnServer, params: types.DidCloseTextDocumentParams):
    uri = params.text_document.uri
    ls.current.pop(uri, None)
    ls.good.pop(uri, None)
    ls.pending.discard(uri)
    ls.maps.pop(uri, None)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


@SERVER.feature(types.TEXT_DOCUMENT_HOVER)
def on_hover(ls: CnnServer, params: types.HoverParams):
    found = ls.answer(params.text_document.uri, params.position, _hover)
    if found is None:
        return None
    text, r = found
    text = completion.safe(text)  # doc comments are spec text
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
                       range=r)


def _hover(a: Analysis, line: int, col: int):
    """(markdown, range) at 0-based (line, col) of analysis ``a``, or None."""
    index = a.index
    if index is not None:
        use = index.use_at(line, col)
        if use is not None and use.kind == "call":
            block = index.blocks.get(use.name)
            if block is not None:
                members = a.calls.get((use.range[0] + 1, use.range[1] + 1), [])
                instances = hover.call_instances(a.graph, members) if a.graph is not None else []
                return hover.call_hover(a.graph, instances, block), use.range
        definition = index.definition_at(line, col)
        if definition is not None and definition.kind == "block":
            return hover.block_hover(index.blocks[definition.name]), definition.range
    if a.graph is not None:
        nodes = hover.nodes_at(a, line, col)
        if a.net is None and all(a.graph.nodes[n].get("shape") is None for n in nodes):
            nodes = []  # poisoned by an error upstream: the last good graph may know better
        if nodes:
            span = a.graph.nodes[nodes[0]]["span"]
            r = (span.line - 1, span.column - 1, span.end_line - 1, span.end_column - 1)
            return hover.layer_hover(a.graph, nodes), r
    if index is not None:
        use = index.use_at(line, col)
        if use is not None and use.kind == "call":
            text = hover.op_hover(use.name)
            if text is not None:
                return text, use.range
    return None


@SERVER.feature(types.TEXT_DOCUMENT_DEFINITION)
def on_definition(ls: CnnServer, params: types.DefinitionParams):
    uri = params.text_document.uri
    found = ls.answer(uri, params.position, _definition)
    if found is None or found[1] is None:  # nothing there, or an edit removed the target
        return None
    return types.Location(uri=uri, range=found[1])


def _definition(a: Analysis, line: int, col: int):
    """(the definition, its range) of the name at 0-based (line, col), or None."""
    if a.index is None:
        return None
    use = a.index.use_at(line, col)
    target = a.index.resolve(use) if use is not None else None
    return None if target is None else (target, target.range)


@SERVER.feature(types.TEXT_DOCUMENT_COMPLETION,
                types.CompletionOptions(trigger_characters=["(", ","]))
def on_completion(ls: CnnServer, params: types.CompletionParams):
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    current = ls.fresh(uri)
    line, col = ls.from_position(current, params.position)
    lines = split_lines(doc.source)
    offset = sum(len(x) + 1 for x in lines[:line]) + col
    index = current.index or (ls.good[uri].index if uri in ls.good else None)
    return types.CompletionList(is_incomplete=False,
                                items=completion.items(doc.source, offset, index))


@SERVER.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def on_symbols(ls: CnnServer, params: types.DocumentSymbolParams):
    uri = params.text_document.uri
    current = ls.fresh(uri)
    a = current if current.index is not None else ls.good.get(uri)
    if a is None or a.index is None:
        return []
    lines = None if a is current else ls.line_map(uri, a, current)
    kinds = {"stage": types.SymbolKind.Module, "block": types.SymbolKind.Function,
             "network": types.SymbolKind.Namespace}

    def convert(sym):
        r, name_r = sym.range, sym.name_range
        if lines is not None:
            r, name_r = lines.range_to_new(r), lines.range_to_new(name_r)
            if r is None or name_r is None:
                return None
        children = [c for c in map(convert, sym.children) if c is not None]
        return types.DocumentSymbol(name=sym.name, kind=kinds[sym.kind],
                                    range=ls.to_range(current, r),
                                    selection_range=ls.to_range(current, name_r),
                                    children=children or None)

    return [s for s in map(convert, a.index.symbols) if s is not None]


@SERVER.feature(types.TEXT_DOCUMENT_FORMATTING)
def on_formatting(ls: CnnServer, params: types.DocumentFormattingParams):
    from ..diagnostics import CnnError
    from ..fmt import format_source
    doc = ls.workspace.get_text_document(params.text_document.uri)
    try:
        formatted = format_source(doc.source, to_fs_path(doc.uri) or doc.uri)
    except CnnError:
        return None  # the diagnostics already say why
    if formatted == doc.source:
        return []
    lines = split_lines(doc.source)
    end = types.Position(line=len(lines), character=0)
    return [types.TextEdit(range=types.Range(start=types.Position(line=0, character=0), end=end),
                           new_text=formatted)]


@SERVER.feature(types.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, LEGEND)
def on_semantic_tokens(ls: CnnServer, params: types.SemanticTokensParams):
    from ..fmt import _lark
    from ..ops import NAMES
    from .index import lexed_tokens
    uri = params.text_document.uri
    a = ls.fresh(uri)
    tokens = a.index.tokens if a.index is not None else \
        lexed_tokens(a.text, _lark(), NAMES.__contains__)
    data, prev_line, prev_col = [], 0, 0
    codec = ls.workspace.position_codec
    for (line, col, end_line, end_col), kind, modifiers in tokens:
        if end_line != line or line >= len(a.lines):
            continue
        text = a.lines[line]
        start = codec.client_num_units(text[:col])
        length = codec.client_num_units(text[col:end_col])
        delta_line = line - prev_line
        delta_col = start - prev_col if delta_line == 0 else start
        bits = sum(1 << TOKEN_MODIFIERS.index(m) for m in modifiers)
        data += [delta_line, delta_col, length, TOKEN_TYPES.index(kind), bits]
        prev_line, prev_col = line, start
    return types.SemanticTokens(data=data)


def serve() -> None:
    SERVER.start_io()
