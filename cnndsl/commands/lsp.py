"""`cnndsl lsp`: the language server over stdio (cnndsl.lsp), for editors."""

from __future__ import annotations

HELP = "run the language server on stdin/stdout (diagnostics, hover, completion, formatting)"


def add_arguments(parser) -> None:
    parser.add_argument("--stdio", action="store_true",
                        help="talk over standard input and output (the default, and the only "
                             "transport; accepted because editors pass it)")


def run(args) -> int:
    from ..lsp import serve  # noqa: PLC0415
    serve()
    return 0
