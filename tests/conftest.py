import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
# torchvision's published numbers (params, MACs), vendored so a clone tests
# on its own: CI has no torchvision. tests/reference/README.md says where they come from.
REFERENCE = Path(__file__).resolve().parent / "reference"

sys.path.insert(0, str(Path(__file__).resolve().parent))

# "ci" (default) keeps the suite quick; CNNDSL_HYPOTHESIS=thorough for more cases.
settings.register_profile("ci", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("CNNDSL_HYPOTHESIS", "ci"))
