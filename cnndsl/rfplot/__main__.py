"""`python -m cnndsl.rfplot --docs`: redraw docs/images/rf/ (see docs.py)."""

import sys

from .docs import main

if __name__ == "__main__":  # importing it (the doctest sweep) runs nothing
    sys.exit(main())
