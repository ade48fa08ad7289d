"""Golden tests: what users read, byte for byte.

- ``tests/golden/ok/NAME.cnn``: ``cnndsl check`` succeeds; its summary
  (stdout) is ``NAME.txt`` and its warnings (stderr), if any, ``NAME.stderr``.
- ``tests/golden/err/NAME.cnn``: the exact diagnostics ``cnndsl check``
  prints on stderr are ``NAME.txt`` (code, message, file:line:column, the
  source line with its caret underline, notes, help). Exit status 1 if it
  holds an error (or a warning under ``--strict``), else 0.

A first line ``# cnndsl: ARGS`` adds command-line arguments (``--set``,
``--max-nodes``, ``--strict``). ``# golden: NAME=VALUE ...`` sets
environment variables; ``# golden: module NAME=VALUE ...`` also builds the
module (:meth:`cnndsl.Network.to_module`) instead of printing the summary,
for the errors only building can raise.

Rewrite every golden after an intended change with
``CNNDSL_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_golden.py``
and review the diff.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from cnndsl import cli
from cnndsl.diagnostics import CODES, CnnError

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("CNNDSL_UPDATE_GOLDEN") == "1"
ERR_CASES = sorted((GOLDEN / "err").glob("*.cnn"))
OK_CASES = sorted((GOLDEN / "ok").glob("*.cnn"))


def _directives(path: Path) -> tuple[list[str], dict, bool]:
    """(extra CLI args, environment, whether to build the module) from the first line."""
    first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8", "replace")
    args, env, module = [], {}, False
    if first.startswith("# cnndsl:"):
        args = shlex.split(first[len("# cnndsl:"):])
    elif first.startswith("# golden:"):
        words = first[len("# golden:"):].split()
        module = bool(words) and words[0] == "module"
        env = dict(item.split("=", 1) for item in words[module:])
    return args, env, module


def _run(path: Path, capsys, monkeypatch) -> tuple[int, str, str]:
    """Run ``cnndsl check`` on ``path`` in-process, from the repository root."""
    monkeypatch.chdir(ROOT)
    args, env, module = _directives(path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    relative = str(path.relative_to(ROOT))
    if module:
        import cnndsl
        try:
            cnndsl.load(relative).to_module()
        except CnnError as err:
            return 1, "", err.render() + "\n"
        return 0, "", ""
    code = cli.main(["check", relative, *args])
    out, err = capsys.readouterr()
    return code, out, err


def _compare(expected_path: Path, actual: str) -> None:
    if UPDATE:
        if actual:
            expected_path.write_text(actual, encoding="utf-8")
        elif expected_path.exists():
            expected_path.unlink()
        return
    expected = expected_path.read_text(encoding="utf-8") if expected_path.exists() else ""
    assert actual == expected, f"{expected_path.name} differs; rerun with CNNDSL_UPDATE_GOLDEN=1 " \
                               "if the change is intended"


@pytest.mark.parametrize("case", ERR_CASES, ids=lambda p: p.stem)
def test_error_golden(case, capsys, monkeypatch):
    code, out, err = _run(case, capsys, monkeypatch)
    _compare(case.with_suffix(".txt"), err)
    strict = "--strict" in _directives(case)[0]
    failing = "error[" in err or strict and "warning[" in err
    assert code == (1 if failing else 0), err
    assert err.strip(), "a golden error case printed no diagnostic"
    assert "Traceback" not in err


@pytest.mark.parametrize("case", OK_CASES, ids=lambda p: p.stem)
def test_ok_golden(case, capsys, monkeypatch):
    code, out, err = _run(case, capsys, monkeypatch)
    assert code == 0, err
    _compare(case.with_suffix(".txt"), out)
    _compare(case.with_suffix(".stderr"), err)


# --------------------------------------------------- every code is covered

_CODE = re.compile(r"\b[EW]\d{4}\b")


def _codes_in_source() -> set[str]:
    found = set()
    for path in (ROOT / "cnndsl").rglob("*.py"):
        if path.name != "diagnostics.py":  # the table itself
            found |= set(_CODE.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_code_raised_is_in_the_table():
    unknown = _codes_in_source() - set(CODES)
    assert not unknown, f"codes used in cnndsl but missing from diagnostics.CODES: {sorted(unknown)}"


def test_every_code_is_documented():
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^## ([EW]\d{4})\b", text, re.M))
    assert set(CODES) - documented == set(), f"missing from docs/errors.md: " \
                                             f"{sorted(set(CODES) - documented)}"
    assert documented - set(CODES) == set(), f"documented but not in CODES: " \
                                             f"{sorted(documented - set(CODES))}"


def test_every_code_has_a_golden():
    shown = set()
    for txt in (GOLDEN / "err").glob("*.txt"):
        shown |= set(re.findall(r"^(?:error|warning)\[([EW]\d{4})\]", txt.read_text(), re.M))
    assert set(CODES) - shown == set(), f"codes without a golden test: {sorted(set(CODES) - shown)}"


_DOC_EXAMPLE = re.compile(r"<!-- golden: (\w+) -->\n(?:\n```cnn\n.*?```\n\n```text\n.*?```\n)?", re.S)


def _example(match: re.Match) -> str:
    """A golden case as docs/errors.md shows it: the spec, then what check prints."""
    name = match.group(1)
    spec = (GOLDEN / "err" / f"{name}.cnn").read_bytes().decode("utf-8", "replace")
    # Every line, directives too: the printed line numbers count them.
    lines = spec.splitlines()
    printed = (GOLDEN / "err" / f"{name}.txt").read_text(encoding="utf-8")
    args, env, module = _directives(GOLDEN / "err" / f"{name}.cnn")
    where = f"tests/golden/err/{name}.cnn"
    if module:
        command = f'>>> cnndsl.load("{where}").to_module()'
    else:
        command = " ".join(["$", *(f"{k}={v}" for k, v in env.items()), "cnndsl check", where,
                            *args])
    return (f"<!-- golden: {name} -->\n\n```cnn\n" + "\n".join(lines) + "\n```\n\n"
            f"```text\n{command}\n{printed}```\n")


def test_docs_examples_match_goldens():
    """Each example in docs/errors.md is a golden case, shown as check prints it now."""
    path = ROOT / "docs" / "errors.md"
    text = path.read_text(encoding="utf-8")
    synced = _DOC_EXAMPLE.sub(_example, text)
    if UPDATE:
        path.write_text(synced, encoding="utf-8")
        text = synced
    assert text == synced, "docs/errors.md examples differ from the goldens; rerun with " \
                           "CNNDSL_UPDATE_GOLDEN=1"
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        code = section.split()[0]
        assert re.search(rf"^(error|warning)\[{code}\]", section, re.M), \
            f"docs/errors.md: the example under {code} does not show {code}"
