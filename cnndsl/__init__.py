"""cnndsl: a declarative language for CNN architectures, and its compiler.

>>> import cnndsl
>>> net = cnndsl.loads("network tiny\\ninput [1, 8, 8]\\nconv(4, k=3) relu")
>>> net.output_shape
(4, 6, 6)
"""

from .diagnostics import CnnError, Diagnostic
from .importer import from_module
from .network import Network, load, loads
from .transfer import transfer_weights

__all__ = ["CnnError", "Diagnostic", "Network", "fold_batchnorm", "from_module", "load", "loads",
           "transfer_weights"]


def fold_batchnorm(network, module):
    """Batch norm folded into trained weights (docs/compile.md): transfer, train, then fold."""
    from .backends.optimize import fold_batchnorm as fold
    return fold(network, module)
__version__ = "0.1.0"
