"""`cnndsl lsp`: a language server for .cnn specs (pygls, over stdio).

- document.py: checking a text as `cnndsl check` does; the last good version
- index.py: names, definitions, blocks, symbols and token classes of a text
- hover.py, completion.py: what the server answers from them
- server.py: the pygls server and its features
"""

from __future__ import annotations


def serve() -> None:
    """Run the server on standard input and output until the client exits."""
    from .server import serve as run  # noqa: PLC0415 (pygls only when serving)
    run()
