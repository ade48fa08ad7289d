"""`cnndsl lsp` end to end: a real client (pytest-lsp) talks to the server over stdio."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

ROOT = Path(__file__).resolve().parent.parent
GOOGLENET = (ROOT / "specs" / "googlenet.cnn").read_text(encoding="utf-8")
RESNET50 = (ROOT / "specs" / "resnet50.cnn").read_text(encoding="utf-8")
URI = (ROOT / "specs" / "googlenet.cnn").as_uri()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "cnndsl",
                                                              "lsp"]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT.as_uri()))
    yield
    await lsp_client.shutdown_session()


def _open(client, text: str, uri: str = URI, version: int = 1) -> None:
    item = types.TextDocumentItem(uri=uri, language_id="cnn", version=version, text=text)
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))


def _change(client, text: str, uri: str = URI, version: int = 2) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


async def _diagnostics(client, uri: str = URI) -> list[types.Diagnostic]:
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return list(client.diagnostics[uri])


def _position(text: str, needle: str, offset: int = 0) -> types.Position:
    before = text[:text.index(needle) + offset]
    return types.Position(line=before.count("\n"), character=len(before) - before.rfind("\n") - 1)


async def _hover(client, text: str, needle: str, offset: int = 0, uri: str = URI) -> str:
    result = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=_position(text, needle, offset)))
    assert result is not None, f"no hover at {needle!r}"
    return result.contents.value


@pytest.mark.asyncio
async def test_googlenet_opens_clean_and_hovers_its_first_conv(client):
    _open(client, GOOGLENET)
    assert await _diagnostics(client) == []
    text = await _hover(client, GOOGLENET, "conv(64, k=7", 1)
    assert "64x112x112" in text
    assert "receptive field 7/2" in text
    assert "params 9,472" in text and "MACs 118M" in text


@pytest.mark.asyncio
async def test_dropping_one_padding_publishes_the_error_at_its_range(client):
    _open(client, GOOGLENET)
    assert await _diagnostics(client) == []
    broken = GOOGLENET.replace("conv(c2[1], k=3, p=1)", "conv(c2[1], k=3)", 1)
    _change(client, broken)
    found = await _diagnostics(client)
    assert [d.code for d in found] == ["E0301"]
    d = found[0]
    assert d.severity == types.DiagnosticSeverity.Error and d.source == "cnndsl"
    # The range is the path whose spatial size no longer matches.
    path = _position(broken, "path { conv(c2[0]")
    assert (d.range.start.line, d.range.start.character) == (path.line, path.character)
    assert d.range.end.line == path.line
    line = broken.splitlines()[path.line]
    assert d.range.end.character == len(line.rstrip())
    # The call chain: the block call that failed, as related information.
    related = d.related_information or []
    call = _position(broken, "inception(64, (96, 128)")
    assert any(r.location.uri == URI and r.location.range.start.line == call.line
               and r.location.range.start.character == call.character
               and "called from" in r.message for r in related)


@pytest.mark.asyncio
async def test_a_broken_line_keeps_the_hovers_of_the_rest(client):
    _open(client, GOOGLENET)
    await _diagnostics(client)
    # A syntax error on one line, and a line inserted above the first conv.
    broken = GOOGLENET.replace("stage b2 {", "stage b2 { conv(,", 1).replace(
        "stage b1", "# a new comment line\nstage b1", 1)
    _change(client, broken)
    found = await _diagnostics(client)
    assert found and found[0].code == "E0101"
    text = await _hover(client, broken, "conv(64, k=7", 1)
    assert "64x112x112" in text  # from the last good graph, at the line it moved to


@pytest.mark.asyncio
async def test_hover_on_a_block_call_and_a_block_name(client):
    _open(client, GOOGLENET)
    await _diagnostics(client)
    call = await _hover(client, GOOGLENET, "inception(64, (96, 128)", 2)
    assert "block inception(c1, c2, c3, c4)" in call
    assert "192x28x28 → **256x28x28**" in call
    assert "params 163,696" in call
    _open(client, RESNET50, uri="file:///tmp/r50.cnn")
    await _diagnostics(client, "file:///tmp/r50.cnn")
    block = await _hover(client, RESNET50, "bottleneck(c, stride", 3, uri="file:///tmp/r50.cnn")
    assert "block bottleneck(c, stride = 1)" in block


@pytest.mark.asyncio
async def test_block_doc_comment_in_hover(client):
    spec = ("network n\ninput [3, 8, 8]\n# two convs\n# with a relu \u202eevil\n"
            "block pair(c = 4) {\n    conv(c, k=3, p=1) relu\n}\npair(8)\n")
    uri = "file:///tmp/doc.cnn"
    _open(client, spec, uri=uri)
    assert await _diagnostics(client, uri) == []
    text = await _hover(client, spec, "pair(c", 1, uri=uri)
    assert "block pair(c = 4)" in text and "two convs\nwith a relu" in text
    assert "\u202e" not in text and "\\u202eevil" in text  # shown escaped, as the CLI does


@pytest.mark.asyncio
async def test_go_to_definition_of_blocks_tensors_and_variables(client):
    spec = ("network n(width = 4)\ninput [3, 8, 8]\nblock b(c) {\n    k = 3\n"
            "    conv(c, k=k, p=1)\n}\nb(width) -> skip\nfrom skip\nrelu\n")
    uri = "file:///tmp/def.cnn"
    _open(client, spec, uri=uri)
    assert await _diagnostics(client, uri) == []

    async def target(needle, offset=0):
        loc = await client.text_document_definition_async(types.DefinitionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=_position(spec, needle, offset)))
        assert loc is not None, needle
        return loc.range.start.line, loc.range.start.character

    assert await target("b(width)") == (2, 6)  # the block
    assert await target("width) ->", 1) == (0, 10)  # a network parameter
    assert await target("from skip", 6) == (6, 12)  # `from skip` -> `-> skip`
    assert await target("k=k", 2) == (3, 4)  # a variable inside the block
    assert await target("c, k=k") == (2, 8)  # a block parameter


@pytest.mark.asyncio
async def test_completion_of_layers_blocks_and_arguments(client):
    spec = "network n\ninput [3, 8, 8]\nblock b(c, s = 1) { conv(c, k=3) }\nconv(8, )\n"
    uri = "file:///tmp/comp.cnn"
    _open(client, spec, uri=uri)
    await _diagnostics(client, uri)

    async def labels(line, character):
        result = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character)))
        return {i.label: i for i in result.items}

    inside = await labels(3, 8)
    assert {"kernel", "stride", "padding", "groups", "bias"} <= set(inside)
    assert "channels" in inside  # not given by name (the positional 8 is not checked here)
    assert inside["stride"].detail == "default 1" and inside["stride"].insert_text == "stride="
    assert "(also s)" in inside["stride"].documentation.value
    assert inside["kernel"].detail == "required"
    top = await labels(4, 0)
    assert {"conv", "relu", "maxpool", "concat", "b", "stage"} <= set(top)
    assert top["b"].detail == "block b(c, s = 1)"
    in_block = await labels(2, 25)  # inside `conv(c, ` of the block body
    assert "kernel" not in in_block  # given as k=
    call = spec.replace("conv(8, )\n", "b(8, )\n")
    _change(client, call, uri=uri)
    await _diagnostics(client, uri)
    assert set(await labels(3, 5)) == {"c", "s"}


@pytest.mark.asyncio
async def test_symbols_formatting_and_semantic_tokens(client):
    _open(client, RESNET50, uri="file:///tmp/r50.cnn")
    await _diagnostics(client, "file:///tmp/r50.cnn")
    ident = types.TextDocumentIdentifier(uri="file:///tmp/r50.cnn")
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=ident))
    names = [(s.name, s.kind) for s in symbols]
    assert ("bottleneck", types.SymbolKind.Function) in names
    assert [n for n, k in names if k == types.SymbolKind.Module] == \
        ["stem", "layer1", "layer2", "layer3", "layer4", "head"]

    from cnndsl.fmt import format_source
    messy = "network n\ninput [1,8,8]\nconv( 4,k = 3 )  relu # c\n"
    _change(client, messy, uri="file:///tmp/r50.cnn")
    await _diagnostics(client, "file:///tmp/r50.cnn")
    options = types.FormattingOptions(tab_size=4, insert_spaces=True)
    edits = await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=ident, options=options))
    assert len(edits) == 1 and edits[0].new_text == format_source(messy)
    assert (edits[0].range.start.line, edits[0].range.end.line) == (0, 4)
    _change(client, format_source(messy), uri="file:///tmp/r50.cnn", version=3)
    await _diagnostics(client, "file:///tmp/r50.cnn")
    unchanged = await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=ident, options=options))
    assert unchanged is not None and list(unchanged) == []  # formatted already: no edit
    _change(client, RESNET50, uri="file:///tmp/r50.cnn", version=4)
    await _diagnostics(client, "file:///tmp/r50.cnn")

    tokens = await client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(text_document=ident))
    decoded = _decode(tokens.data, RESNET50)
    from cnndsl.lsp.index import TOKEN_TYPES
    kinds = {text: TOKEN_TYPES[t] for text, t in decoded}
    assert kinds["network"] == "keyword" and kinds["bottleneck"] == "class"
    assert kinds["conv"] == "function" and kinds["64"] == "number"
    assert kinds["# ResNet-50 exactly as torchvision builds it (He et al., 2016): bottleneck"] \
        == "comment"


def _decode(data: list[int], text: str) -> list[tuple[str, int]]:
    lines = text.split("\n")
    out, line, col = [], 0, 0
    for i in range(0, len(data), 5):
        dl, dc, length, kind, _ = data[i:i + 5]
        line += dl
        col = col + dc if dl == 0 else dc
        out.append((lines[line][col:col + length], kind))
    return out


@pytest.mark.asyncio
async def test_warnings_are_published_with_their_code(client):
    spec = "network n\ninput [3, 9, 9]\nconv(4, k=3)\nmaxpool(k=2)\n"
    uri = "file:///tmp/warn.cnn"
    _open(client, spec, uri=uri)
    found = await _diagnostics(client, uri)
    assert [(d.code, d.severity) for d in found] == [("W0302", types.DiagnosticSeverity.Warning)]
    assert found[0].range.start.line == 3


def test_the_server_does_not_import_torch():
    import subprocess
    code = ("import sys; from cnndsl.lsp import server; from cnndsl.lsp.document import check\n"
            "a = check(open('specs/googlenet.cnn').read(), 'g.cnn'); a.index; a.calls\n"
            "from cnndsl import highlight, fmt\n"
            "assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


@pytest.mark.asyncio
async def test_hostile_text_gets_diagnostics_not_a_crash(client):
    uri = "file:///tmp/hostile.cnn"
    deep = "network n\ninput [1, 8, 8]\n" + "stage s {" * 300 + "}" * 300 + "\n"
    _open(client, deep, uri=uri)
    assert [d.code for d in await _diagnostics(client, uri)] == ["E0403"]
    _change(client, "\x1b[2J\u202e network", uri=uri)
    found = await _diagnostics(client, uri)
    assert found and all(d.code.startswith("E01") for d in found)
    # The server still answers.
    result = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=0, character=3)))
    assert result is None
    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    assert symbols == []


def _cli_diagnostics(path: Path) -> list[tuple]:
    """What `cnndsl check --json` reports: code, severity and span of each diagnostic."""
    import json
    import subprocess
    r = subprocess.run([sys.executable, "-m", "cnndsl", "check", "--json", str(path)],
                       capture_output=True, text=True, cwd=ROOT)
    doc = json.loads(r.stdout)
    found = doc["diagnostics"] if "diagnostics" in doc else doc["warnings"]
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")

    def end_column(d):  # an editor has no column past the end of a line: clamped there
        line = lines[d["end_line"] - 1] if d.get("end_line", 0) <= len(lines) else ""
        return min(d.get("end_column", 1), len(line.rstrip("\r")) + 1)
    return [(d["code"], d["severity"], d.get("line", 1), d.get("column", 1), d.get("end_line", 1),
             end_column(d) if "end_line" in d else 1) for d in found]


# Every fourth golden error spec: syntax errors, names, shapes and limits alike.
GOLDEN_ERRORS = sorted((ROOT / "tests" / "golden" / "err").glob("*.cnn"))[::4]


@pytest.mark.asyncio
async def test_every_diagnostic_of_the_cli_is_published(client):
    assert len(GOLDEN_ERRORS) >= 8
    for path in GOLDEN_ERRORS:
        uri = path.as_uri()
        _open(client, path.read_text(encoding="utf-8"), uri=uri)
        found = await _diagnostics(client, uri)
        severity = {types.DiagnosticSeverity.Error: "error",
                    types.DiagnosticSeverity.Warning: "warning"}
        published = [(d.code, severity[d.severity], d.range.start.line + 1,
                      d.range.start.character + 1, d.range.end.line + 1,
                      d.range.end.character + 1) for d in found]
        assert published == _cli_diagnostics(path), path.name


@pytest.mark.asyncio
async def test_broken_text_still_has_tokens_and_definitions(client):
    spec = "network n\ninput [3, 8, 8]\nblock b(c) { conv(c, k=3) }\nb(4)\nrelu\n"
    uri = "file:///tmp/broken.cnn"
    _open(client, spec, uri=uri)
    assert await _diagnostics(client, uri) == []
    broken = spec.replace("relu", "relu(,")
    _change(client, broken, uri=uri)
    assert [d.code for d in await _diagnostics(client, uri)][:1] == ["E0101"]
    ident = types.TextDocumentIdentifier(uri=uri)
    tokens = await client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(text_document=ident))
    from cnndsl.lsp.index import TOKEN_TYPES
    kinds = {text: TOKEN_TYPES[t] for text, t in _decode(tokens.data, broken)}
    assert kinds["network"] == "keyword" and kinds["conv"] == "function"
    assert kinds["3"] == "number"
    loc = await client.text_document_definition_async(types.DefinitionParams(
        text_document=ident, position=types.Position(line=3, character=0)))
    assert (loc.range.start.line, loc.range.start.character) == (2, 6)  # from the last good text
