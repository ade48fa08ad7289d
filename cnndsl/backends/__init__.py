"""Backends: a checked graph becomes something that runs.

- :mod:`.torch_codegen`: graph -> readable, standalone PyTorch source;
- :mod:`.torch_module`: that source, executed -> a live ``nn.Module``;
- :mod:`.optimize`: inference rewrites (batch norm folded into convolutions).

All of them import torch; ``cnndsl check`` never imports this package.
"""
