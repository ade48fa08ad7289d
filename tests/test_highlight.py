"""The Pygments lexer: registered through the entry point, and it reads every spec."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String

from cnndsl.highlight import CnnLexer

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.cnn"))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_entry_point_finds_the_lexer():
    # Markdown renderers, Sphinx and Jupyter look lexers up this way.
    assert isinstance(get_lexer_by_name("cnn"), CnnLexer)
    assert isinstance(get_lexer_for_filename("net.cnn"), CnnLexer)


def _tokens(text: str):
    return [(t, v) for t, v in CnnLexer().get_tokens(text) if v.strip()]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_spec_lexes_without_errors_and_losslessly(path):
    text = path.read_text(encoding="utf-8")
    tokens = list(CnnLexer().get_tokens(text))
    assert [v for t, v in tokens if t in Error] == []
    assert "".join(v for _, v in tokens) == text if text.endswith("\n") else text + "\n"


def test_token_classes():
    spec = ('# a comment\nnetwork n(c = 3)\ninput [c, 8, 8]\nblock b(w) { conv(w, k=3) as x }\n'
            'stage "s{1}" { b(2 ** 3) relu -> t }\nfrom t\nif in.channels > 1 and true '
            '{ linear(range(4)[0], bias=false) }\nx = 1.5e-3\n')
    found = _tokens(spec)
    kinds = {}
    for t, v in found:
        kinds.setdefault(v, t)
    assert kinds["# a comment"] in Comment
    assert kinds["network"] in Keyword and kinds["n"] in Name.Namespace
    assert kinds["block"] in Keyword and kinds["b"] in Name.Class
    assert kinds["conv"] in Name.Builtin and kinds["relu"] in Name.Builtin
    assert kinds["linear"] in Name.Builtin
    assert kinds["k"] in Name.Attribute and kinds["bias"] in Name.Attribute
    assert kinds["x"] in Name.Variable and kinds["t"] in Name.Variable
    assert kinds['"s{1}"'] in String
    assert kinds["3"] in Number.Integer and kinds["1.5e-3"] in Number.Float
    assert kinds["**"] in Operator and kinds["and"] in Operator.Word
    assert kinds["true"] in Keyword.Constant and kinds["range"] in Name.Function
    assert kinds["channels"] in Name.Property
    # A name that starts like a keyword is a name: `assign`, `stage_x`, `input_c`.
    assert _tokens("assign stage_x input_c") == [(Name, "assign"), (Name, "stage_x"),
                                                (Name, "input_c")]


def _fenced(path: Path):
    """(language, block text) of every fenced block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    for m in re.finditer(r"^```([^\n]*)\n(.*?)^```", text, re.M | re.S):
        yield m.group(1).split(" ")[0], m.group(2)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_docs_spec_blocks_are_tagged_cnn_and_highlight(path):
    for lang, block in _fenced(path):
        if re.match(r"(#[^\n]*\n)*network [^\n]*\n(\s*\n|#[^\n]*\n)*input \[", block):
            assert lang == "cnn", f"{path.name}: a spec in a ```{lang} block:\n{block[:80]}"
        if lang == "cnn":
            assert not [v for t, v in CnnLexer().get_tokens(block) if t in Error]


def test_the_vscode_grammar_is_generated_from_the_registry():
    # editors/vscode/syntaxes/cnn.tmLanguage.json lists the layer names: it must
    # follow the op registry (`python -m cnndsl.highlight` rewrites it).
    from cnndsl import highlight
    assert highlight.main(["--check"]) == 0


def test_the_vscode_grammar_patterns_compile_and_name_layers():
    import json
    grammar = json.loads((ROOT / "editors" / "vscode" / "syntaxes" / "cnn.tmLanguage.json")
                         .read_text(encoding="utf-8"))
    patterns = [p for rule in grammar["repository"].values()
                for p in rule.get("patterns", [rule])]
    for p in patterns:
        re.compile(p["match"])  # Oniguruma reads the same subset (npm test runs the real one)
    layer = next(p for p in patterns if p.get("name") == "support.function.layer.cnn")
    assert re.fullmatch(layer["match"], "conv") and re.fullmatch(layer["match"], "maxpool")
    assert not re.fullmatch(layer["match"], "convolution")
