"""A Pygments lexer for .cnn specs, registered as ``cnn`` through the
``pygments.lexers`` entry point (pyproject.toml), so Markdown renderers,
Sphinx/MkDocs and Jupyter highlight fenced ```` ```cnn ```` blocks.

Layer names come from the op registry (no torch is imported), so a new op is
highlighted as soon as it is registered.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (Comment, Keyword, Name, Number, Operator, Punctuation, String,
                            Text, Whitespace)

from .expressions import BUILTINS
from .ops import NAMES

KEYWORDS = ("network", "input", "block", "stage", "repeat", "for", "in", "path", "if", "else",
            "as", "from", "output")
WORD_OPERATORS = ("and", "or", "not")
CONSTANTS = ("true", "false")
FUNCTIONS = tuple(BUILTINS)  # the spec language's functions (cnndsl.expressions)

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NUMBER_TAIL = r"(?![A-Za-z0-9_.])"


class CnnLexer(RegexLexer):
    """Lexer for cnndsl specs (``.cnn``)."""

    name = "cnndsl"
    aliases = ["cnn", "cnndsl"]
    filenames = ["*.cnn"]
    mimetypes = ["text/x-cnn"]
    url = "https://github.com/cnndsl/cnndsl"

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#.*?$", Comment.Single),
            (r"(block)(\s+)(" + _NAME + ")", bygroups(Keyword.Declaration, Whitespace,
                                                      Name.Class)),
            (r"(network)(\s+)(" + _NAME + ")", bygroups(Keyword.Declaration, Whitespace,
                                                        Name.Namespace)),
            (r"(stage|path)(\s+)(" + _NAME + ")", bygroups(Keyword, Whitespace, Name.Label)),
            (r"(as|from|output)(\s+)(" + _NAME + ")", bygroups(Keyword, Whitespace,
                                                               Name.Variable)),
            (r"(->)(\s*)(" + _NAME + ")", bygroups(Operator, Whitespace, Name.Variable)),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (words(WORD_OPERATORS, suffix=r"\b"), Operator.Word),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (r"(" + _NAME + r")(\s*)(=)(?!=)", bygroups(Name.Attribute, Whitespace, Operator)),
            (words(tuple(sorted(NAMES, key=len, reverse=True)), prefix=r"\b", suffix=r"\b"),
             Name.Builtin),
            (words(FUNCTIONS, prefix=r"\b", suffix=r"(?=\s*\()"), Name.Function.Magic),
            (r"(\.)(" + _NAME + ")", bygroups(Punctuation, Name.Property)),
            (r'"[^"\n]*"', String.Double),
            (r"[0-9][0-9_]*\.[0-9_]*([eE][+-]?[0-9]+)?" + _NUMBER_TAIL, Number.Float),
            (r"[0-9][0-9_]*[eE][+-]?[0-9]+" + _NUMBER_TAIL, Number.Float),
            (r"\.[0-9][0-9_]*([eE][+-]?[0-9]+)?" + _NUMBER_TAIL, Number.Float),
            (r"[0-9][0-9_]*", Number.Integer),
            (r"\*\*|//|==|!=|<=|>=|[-+*/%<>=]", Operator),
            (r"[()\[\]{},]", Punctuation),
            (_NAME, Name),
            (r".", Text),
        ],
    }


# ------------------------------------------------- the TextMate grammar (VS Code)

TEXTMATE = "editors/vscode/syntaxes/cnn.tmLanguage.json"


def textmate_grammar() -> dict:
    """VS Code's TextMate grammar for .cnn, with the layer names of the registry.

    ``python -m cnndsl.highlight`` writes it to editors/ (``--check``: exit 1 if
    the committed file differs), as ``cnndsl.layer_docs`` does for the docs.
    """
    n = _NAME
    layers = "|".join(sorted(NAMES, key=lambda s: (-len(s), s)))
    functions = "|".join(sorted(FUNCTIONS))

    def pair(pattern, first, second):
        return {"match": pattern, "captures": {"1": {"name": first}, "2": {"name": second}}}

    return {
        "name": "cnndsl",
        "scopeName": "source.cnn",
        "fileTypes": ["cnn"],
        "patterns": [{"include": f"#{p}"} for p in
                     ("comment", "declaration", "keyword", "call", "expression")],
        "repository": {
            "comment": {"match": "#.*$", "name": "comment.line.number-sign.cnn"},
            "declaration": {"patterns": [
                pair(rf"\b(block)\s+({n})", "storage.type.block.cnn", "entity.name.type.block.cnn"),
                pair(rf"\b(network)\s+({n})", "storage.type.network.cnn",
                     "entity.name.namespace.cnn"),
                pair(rf"\b(stage|path)\s+({n})", "keyword.other.cnn", "entity.name.section.cnn"),
                pair(rf"\b(as|from|output)\s+({n})", "keyword.other.cnn",
                     "variable.other.tensor.cnn"),
                pair(rf"(->)\s*({n})", "keyword.operator.bind.cnn", "variable.other.tensor.cnn"),
            ]},
            "keyword": {"patterns": [
                {"match": r"\b(if|else|for|repeat)\b", "name": "keyword.control.cnn"},
                {"match": r"\b(network|input|block|stage|path|as|from|output|in)\b",
                 "name": "keyword.other.cnn"},
                {"match": r"\b(and|or|not)\b", "name": "keyword.operator.logical.cnn"},
                {"match": r"\b(true|false)\b", "name": "constant.language.boolean.cnn"},
            ]},
            "call": {"patterns": [
                pair(rf"\b({n})\s*(=)(?!=)", "variable.parameter.cnn",
                     "keyword.operator.assignment.cnn"),
                {"match": rf"\b({layers})\b", "name": "support.function.layer.cnn"},
                {"match": rf"\b({functions})(?=\s*\()", "name": "support.function.builtin.cnn"},
                {"match": rf"\b({n})(?=\s*\()", "name": "entity.name.function.call.cnn"},
            ]},
            "expression": {"patterns": [
                {"match": r'"[^"\n]*"', "name": "string.quoted.double.cnn"},
                {"match": r"\b[0-9][0-9_]*\.[0-9_]*([eE][+-]?[0-9]+)?|\b[0-9][0-9_]*[eE][+-]?"
                          r"[0-9]+|\.[0-9][0-9_]*([eE][+-]?[0-9]+)?",
                 "name": "constant.numeric.float.cnn"},
                {"match": r"\b[0-9][0-9_]*\b", "name": "constant.numeric.integer.cnn"},
                {"match": r"\*\*|//|==|!=|<=|>=|[-+*/%<>]", "name": "keyword.operator.cnn"},
                pair(rf"(\.)({n})", "punctuation.accessor.cnn", "variable.other.property.cnn"),
                {"match": r"[{}]", "name": "punctuation.section.block.cnn"},
                {"match": r"[()\[\],]", "name": "punctuation.separator.cnn"},
            ]},
        },
    }


def main(argv: list[str] | None = None) -> int:
    import json
    import sys
    from pathlib import Path

    args = sys.argv[1:] if argv is None else argv
    target = Path(__file__).resolve().parent.parent / TEXTMATE
    text = json.dumps(textmate_grammar(), indent=2) + "\n"
    if "--check" in args:
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            print(f"{TEXTMATE} is out of date: run `python -m cnndsl.highlight`", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
