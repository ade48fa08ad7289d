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

__all__ = ["CnnError", "Diagnostic", "Network", "from_module", "load", "loads",
           "transfer_weights"]
__version__ = "0.1.0"
