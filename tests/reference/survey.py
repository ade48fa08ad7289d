"""What the torchvision scripts share: record figures, and check builders one by one.

Run only in a throwaway environment that has torchvision (see
make_zoo_reference.py); CI reads the JSON files these scripts write.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Callable, Iterable


def record(out: Path, source: str, keys: Iterable[str], static_numbers: Callable,
           fingerprint: Callable, fingerprinted: Iterable[str], width: int) -> None:
    """Each key's static numbers (and, for ``fingerprinted`` keys, its output
    fingerprint) into the JSON document at ``out``, merged with what is there.
    The file is replaced whole after each key: a crash keeps the rest."""
    doc = json.loads(out.read_text()) if out.exists() else {}
    doc["source"] = source
    models, prints = doc.setdefault("models", {}), doc.setdefault("fingerprints", {})
    for key in keys:
        models[key] = static_numbers(key)
        print(f"{key:{width}s} params {models[key]['params']:>12,}  MACs "
              f"{models[key]['macs']:>16,}", flush=True)
        if key in fingerprinted:
            prints[key] = fingerprint(key)
        doc["models"] = dict(sorted(models.items()))
        doc["fingerprints"] = dict(sorted(prints.items()))
        part = out.with_suffix(".part")
        part.write_text(json.dumps(doc, indent=1) + "\n")
        part.replace(out)


def survey(keys: Iterable[str], problems_of: Callable[[str], list], width: int) -> int:
    """A line per key, `ok` or its problems, going on past any failure; exit status
    1 if any key failed."""
    failed = 0
    for key in keys:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                problems = problems_of(key)
            except Exception as err:  # noqa: BLE001 (report and go on: this is a survey)
                problems = [f"{type(err).__name__}: {err}"]
        failed += bool(problems)
        print(f"{key:{width}s} {'ok' if not problems else '; '.join(problems)}", flush=True)
    return 1 if failed else 0
