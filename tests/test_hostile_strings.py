"""Hostile strings through every field that reaches an output (issue 17).

A file name, a string argument (a block call's label), and a network
parameter set from outside (`--set`, load's keywords) take quotes, triple
quotes, backslash escapes, line breaks, NUL, bidi controls, HTML and dot
metacharacters and Windows paths. Whatever they hold:

1. the generated source parses and passes ``verify_source``;
2. executing it defines classes and nothing else, and the module builds;
3. the dot source renders (through cnndsl's own ``render``) to valid SVG;
4. the JSON document round-trips;
5. the summary table and rendered diagnostics hold no raw control or bidi
   character.

``CNNDSL_HYPOTHESIS=thorough`` runs ten times as many cases.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import cnndsl
from cnndsl.backends.torch_codegen import verify_source
from cnndsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
THOROUGH = os.environ.get("CNNDSL_HYPOTHESIS") == "thorough"
CASES = settings(max_examples=3000 if THOROUGH else 200, deadline=None, derandomize=not THOROUGH,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PWNED = 'q""";import os;os.system("echo PWNED");"""q'
WINDOWS = "C:\\Users\\nina\\vgg.cnn"
# Pieces an attacker or a Windows user would type; hypothesis mixes them
# with arbitrary text.
PIECES = [PWNED, WINDOWS, '"""', "'''", '"', "'", "\\", "\\N", "\\N{BULLET}", "\\U0001", "\\x",
          "\\u202e", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x00", "\x1b[2J\x1b[H", "\x85",
          "\u2028", "\u2029", "\u202e", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c",
          "\ufeff", "<", ">", "&", "&amp;", "{", "}", "|", "\\l", "\\N", "\\G", "]]>", "-->",
          "# ", ";", "os.system('x')", "a" * 300]
CONTROLS = "".join(chr(c) for c in range(32)) + "\x7f\x85\u2028\u2029\u202a\u202b\u202c" \
    "\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
hostile = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12),
                             st.text(alphabet=CONTROLS + "\"'\\<>&{}|#Nux", max_size=8)),
                   min_size=1, max_size=6).map("".join)

SPEC = """network hostile(p = 1)
input [3, 8, 8]
block b(s) {
    conv(4, k=3, p=1) relu
}
stage features { b(S) b(2) }
flatten linear(2)
"""


def _spec(label: str) -> str:
    return SPEC.replace("S", '"' + label + '"', 1)


def _label(text: str) -> str:
    """What a spec string may hold: anything but `"` and a line break."""
    return text.replace('"', "").replace("\n", "")


def _raw_controls(text: str) -> set[str]:
    """Characters a terminal would act on, a newline aside."""
    return {c for c in text if not c.isprintable() and c != "\n"}


class _Forbidden(Exception):
    pass


def _guarded_builtins() -> dict:
    """Builtins whose side doors raise: executing the source must use none."""
    guarded = dict(vars(builtins))

    def refuse(name):
        def call(*args, **kwargs):
            raise _Forbidden(name)
        return call

    real_import = builtins.__import__

    def only_torch(name, *args, **kwargs):
        if name.split(".")[0] != "torch":
            raise _Forbidden(f"import {name}")
        return real_import(name, *args, **kwargs)

    for name in ("print", "open", "exec", "eval", "compile", "input", "breakpoint", "getattr",
                 "setattr", "globals", "vars", "memoryview"):
        guarded[name] = refuse(name)
    guarded["__import__"] = only_torch
    return guarded


def check_source(source: str) -> None:
    """Properties 1 and 2 for one generated file."""
    verify_source(source)
    tree = ast.parse(source)
    classes = set()
    for stmt in tree.body:
        assert isinstance(stmt, (ast.Import, ast.ImportFrom, ast.ClassDef)), ast.dump(stmt)[:200]
        if isinstance(stmt, ast.ClassDef):
            assert not stmt.decorator_list and not stmt.keywords
            classes.add(stmt.name)
    namespace = {"__builtins__": _guarded_builtins(), "__name__": "hostile_generated"}
    exec(compile(source, "<hostile>", "exec"), namespace)  # noqa: S102 (the point of the test)
    assert set(namespace) - {"__builtins__", "__name__"} == classes | {"torch", "nn"}


def check_outputs(net, *, table: bool = True) -> None:
    """Properties 1 to 5 for a checked network."""
    check_source(net.to_source())
    module = net.to_module()  # builds: __init__ runs with the spec's labels
    assert type(module).__name__ == "Hostile"
    for child in module.modules():
        assert not _raw_controls(child.extra_repr())  # print(model) is a display too
    if table:
        assert not _raw_controls(net.summary())
    doc = net.to_json()
    assert json.loads(json.dumps(doc)) == doc
    try:
        svg = net.draw("svg")
    except cnndsl.backends.graphviz_dot.DotMissing:  # pragma: no cover (dot is in CI)
        return
    ET.fromstring(svg)  # well-formed: every label escaped for dot and for XML


def check_error(text: str, file: str) -> None:
    """Property 5 for a spec that fails: the rendered diagnostics show no raw control."""
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(text, file)
    shown = err.value.render()
    assert not _raw_controls(shown), shown
    for d in err.value.diagnostics:
        assert json.loads(json.dumps(d.to_json())) == d.to_json()


import cnndsl.backends.graphviz_dot  # noqa: E402 (for DotMissing above)


@CASES
@given(name=hostile, label=hostile.map(_label), value=hostile)
@example(name=PWNED + ".cnn", label="\x1b[2J\x1b[H\x1b[32mAll checks passed\x1b[0m", value=PWNED)
@example(name=WINDOWS, label="\u202e\u2066 } # \\N \\U \\x \\", value="\u202e\n\r" + WINDOWS)
@example(name="C:\\Users\\nina\\N\\x\\U0001\\", label="\r\x0c\x00\u2028<>&{}|\\", value="\\")
@example(name="\u202e\u2066x.cnn\x1b[2J\r\x0c\x00\u2028", label="a" * 300, value="'''")
def test_hostile_strings_in_every_field(name, label, value):
    # One network carries all three: a file name, a string argument (the
    # block call's label) and a network parameter set from outside (load's
    # keywords, `--set p=...`), which the header comment and the JSON show.
    net = cnndsl.loads(_spec(label), name, p=value)
    check_outputs(net)
    assert net.to_json()["settings"]["p"] == value
    check_error(_spec(label) + "bogus(1)\n", name)
    # an error inside the block: its "in block `b(...)`" note quotes the call
    check_error(_spec(label).replace("relu", "relu linear(2)"), name)
    # an unexpected string: E0101 quotes it
    check_error(_spec(label).replace("flatten", f'"{label}" flatten'), name)


@settings(CASES, max_examples=500 if THOROUGH else 30)
@given(hostile.map(lambda s: s.replace("/", "").replace("\x00", "")[:60] or "x"))
@example(PWNED)
@example(WINDOWS)
def test_hostile_file_names_on_disk(name):
    # Real files, named as the filesystem allows (no `/`, no NUL).
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / (name + ".cnn")
        path.write_text(_spec("x"))
        net = cnndsl.load(path)
        assert tmp not in net.to_source()  # the base name only: no machine path
        check_outputs(net, table=False)


# -------------------------------------------- the two findings of issue 17


def _import(path: Path):
    spec = importlib.util.spec_from_file_location(f"emitted_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_file_name_runs_no_code(tmp_path, capfd):
    spec = tmp_path / (PWNED + ".cnn")
    spec.write_text((ROOT / "specs" / "lenet.cnn").read_text())
    module = cnndsl.load(spec).to_module()
    assert type(module).__name__ == "Lenet" and sum(p.numel() for p in module.parameters())
    # compile writes a file that imports without running anything
    assert main(["compile", str(spec), "-o", str(tmp_path / "out.py")]) == 0
    emitted = _import(tmp_path / "out.py")
    assert [n for n in vars(emitted) if not n.startswith("__")] == \
        ["torch", "nn", "Stage", "Lenet"]
    out, err = capfd.readouterr()  # os.system's child writes to the real descriptor
    assert "PWNED" not in out + err


def test_a_windows_path_compiles_and_imports(tmp_path, monkeypatch):
    # The console script, as a user runs it, on a file named as on Windows.
    (tmp_path / WINDOWS).write_text((ROOT / "specs" / "lenet.cnn").read_text())
    r = subprocess.run([sys.executable, "-m", "cnndsl", "compile", WINDOWS, "-o", "out.py"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "out.py").read_text()
    verify_source(text)
    assert "# Generated by `cnndsl compile` from vgg.cnn (network lenet" in text
    assert "Users" not in text and "nina" not in text  # the base name only
    assert _import(tmp_path / "out.py").Lenet()(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    monkeypatch.chdir(tmp_path)
    assert type(cnndsl.load(WINDOWS).to_module()).__name__ == "Lenet"


@pytest.mark.parametrize("name", ["C:\\Users\\Nick\\N\\vgg.cnn", "C:\\x\\U0001F600.cnn",
                                  "trailing\\", "a\\'''\\\"\"\"\\.cnn"])
def test_backslash_names_compile_and_import(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path(name).write_text((ROOT / "specs" / "lenet.cnn").read_text())
    assert main(["compile", name, "-o", "out.py"]) == 0
    assert _import(tmp_path / "out.py").Lenet.__doc__.startswith("lenet, compiled from ")


def test_a_hostile_file_name_exports_to_torchscript():
    from cnndsl.backends.torch_module import torchscript_bytes
    net = cnndsl.loads(_spec("\u202e\\N"), PWNED + WINDOWS)
    assert torchscript_bytes(net.to_module())[:2] == b"PK"  # a zip archive
