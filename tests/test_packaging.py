"""cnndsl installs like a package: a light core without torch, extras that say
what they need, and a wheel that carries everything the package refers to.

"Without torch" is exact and cheap: a subprocess whose first import hook
refuses `torch` (and records every attempt), so a command that so much as
looks for torch is caught, then `sys.modules` is read when it exits. The
wheel and the sdist are built once, with hatchling (no network), and the
wheel is run unpacked from a folder outside the checkout, with torch
refused: as a clean venv with only the core dependencies would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from cnndsl import commands, extras, zoo

ROOT = Path(__file__).resolve().parent.parent
LENET = ROOT / "specs" / "lenet.cnn"

# Runs before anything else in the child: refuse the blocked packages, record
# every attempt, and on exit write what was imported to $CNNDSL_TEST_REPORT.
PRELUDE = r"""
import atexit, json, os, sys
BLOCKED = set(filter(None, os.environ["CNNDSL_TEST_BLOCK"].split(",")))
attempts = []
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            attempts.append(name)
            raise ModuleNotFoundError(f"No module named {name!r} (refused by the test)",
                                      name=name)
        return None
sys.meta_path.insert(0, Refuse())
@atexit.register
def _report():
    cnndsl = sys.modules.get("cnndsl")
    with open(os.environ["CNNDSL_TEST_REPORT"], "w") as f:
        json.dump({"attempts": attempts, "modules": sorted(sys.modules),
                   "cnndsl": getattr(cnndsl, "__file__", None)}, f)
"""
CLI = PRELUDE + "\nsys.argv[0] = 'cnndsl'\nfrom cnndsl.cli import run\nrun()\n"

TORCH_LINE = ('cnndsl: error: cnndsl compile needs the torch extra (torch is not installed): '
              'pip install "cnndsl[torch]" (for the CPU-only build of torch, first: '
              'pip install torch --index-url https://download.pytorch.org/whl/cpu)')


def _child(code, args=(), *, block=("torch",), cwd, path=ROOT, warnings=None):
    """Run ``code`` in a fresh interpreter with ``block`` refused and cnndsl from ``path``:
    (completed process, report of what it imported). ``warnings``: a -W filter (Python's
    defaults, as a user has them, when None)."""
    report = Path(cwd) / "report.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "PYTHONPATH")}
    env.update(CNNDSL_TEST_BLOCK=",".join(block), CNNDSL_TEST_REPORT=str(report),
               PYTHONPATH=str(path))
    flags = ["-W", warnings] if warnings else []
    proc = subprocess.run([sys.executable, *flags, "-c", code, *map(str, args)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    return proc, json.loads(report.read_text())


def _torch_free(report) -> None:
    assert report["attempts"] == [], f"looked for {report['attempts']}"
    assert not [m for m in report["modules"] if m.partition(".")[0] == "torch"]


# --- the light core: no torch --------------------------------------------------

LIGHT = {
    "check": (["check", LENET], lambda out: "lenet" in out),
    "check --json": (["check", LENET, "--json"], lambda out: json.loads(out)["params"] > 0),
    "check zoo --json": (["check", "zoo:resnet50", "--json"],
                         lambda out: json.loads(out)["params"] == 25_557_032),
    "draw": (["draw", "zoo:resnet18", "--depth", "1"], lambda out: out.startswith("digraph")),
    "zoo": (["zoo", "resnet18", "alexnet"], lambda out: "resnet18" in out and "alexnet" in out),
    "zoo --json": (["zoo", "--json", "mobilenet_v2"],
                   lambda out: json.loads(out)[0]["name"] == "mobilenet_v2"),
    "rf": (["rf", LENET, "-o", "lenet.svg"], lambda out: out == ""),
}


@pytest.mark.parametrize("name", LIGHT)
def test_light_commands_work_and_never_import_torch(name, tmp_path):
    args, looks_right = LIGHT[name]
    proc, report = _child(CLI, args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert looks_right(proc.stdout)
    _torch_free(report)


def test_draw_writes_a_file_without_torch(tmp_path):
    proc, report = _child(CLI, ["draw", LENET, "-o", "lenet.dot"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "lenet.dot").read_text().startswith("digraph")
    _torch_free(report)


# --- a missing extra is one line, exit 1, before any work -------------------------

def test_compile_without_torch_names_the_extra_in_one_line(tmp_path):
    proc, report = _child(CLI, ["compile", LENET, "-o", "lenet.py"], cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", TORCH_LINE + "\n")
    assert not (tmp_path / "lenet.py").exists()


def test_the_extra_is_checked_before_the_spec_is_read(tmp_path):
    # A spec that does not exist would be exit 2 ("cannot read"): the extra comes first.
    proc, report = _child(CLI, ["compile", "missing.cnn"], cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (1, TORCH_LINE + "\n")
    assert "cnndsl.backends.torch_codegen" not in report["modules"]


def test_onnx_without_its_packages_is_one_line_before_the_module_is_built(tmp_path):
    proc, report = _child(CLI, ["compile", LENET, "--onnx", "lenet.onnx"],
                          block=("onnx", "onnxscript"), cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == ("cnndsl: error: cnndsl compile --onnx needs the onnx extra (onnx and "
                           'onnxscript are not installed): pip install "cnndsl[onnx]"\n')
    assert "cnndsl.backends.torch_module" not in report["modules"]  # nothing was built
    assert not (tmp_path / "lenet.onnx").exists()


def test_onnx_without_torch_asks_for_the_onnx_extra_that_brings_both(tmp_path):
    proc, _ = _child(CLI, ["compile", LENET, "--onnx", "lenet.onnx"],
                     block=("torch", "onnx", "onnxscript"), cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == ("cnndsl: error: cnndsl compile --onnx needs the onnx extra (torch, "
                           'onnx and onnxscript are not installed): pip install "cnndsl[onnx]" '
                           "(for the CPU-only build of torch, first: pip install torch "
                           "--index-url https://download.pytorch.org/whl/cpu)\n")


API = PRELUDE + r"""
import cnndsl
net = cnndsl.load(sys.argv[1])
for build in (net.to_module, net.to_source):
    try:
        build()
    except ImportError as err:
        print(type(err).__name__, err, sep=": ")
"""


def test_the_python_api_raises_an_import_error_naming_the_extra(tmp_path):
    proc, report = _child(API, [LENET], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout
    for line, feature in zip(lines, ("Network.to_module()", "Network.to_source()")):
        assert line.startswith(f"MissingExtra: {feature} needs the torch extra")
        assert 'pip install "cnndsl[torch]"' in line
    assert "cnndsl.backends.torch_module" not in report["modules"]


def test_missing_extra_is_an_import_error_that_names_what_to_install():
    err = extras.MissingExtra("onnx", "ONNX export", ("onnxscript",))
    assert isinstance(err, ImportError) and err.name == "onnxscript"
    assert str(err) == ('ONNX export needs the onnx extra (onnxscript is not installed): '
                        'pip install "cnndsl[onnx]"')
    with pytest.raises(ValueError, match="unknown extra 'tensorflow'"):
        extras.require("tensorflow", "nothing")


# --- no warning on a normal to_module() ---------------------------------------------

MODULE = PRELUDE + r"""
import cnndsl
net = cnndsl.load("zoo:resnet18")
net.to_module()
net.to_module(optimize="inference")
net.to_source()
print("built")
"""


@pytest.mark.parametrize("block", [(), ("numpy",)], ids=["with numpy", "without numpy"])
def test_to_module_prints_no_warning(block, tmp_path):
    # -W default shows every warning once, DeprecationWarnings in libraries included.
    proc, report = _child(MODULE, block=block, cwd=tmp_path, warnings="default")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "built\n", "")
    assert "torch" in report["modules"]


# --- the wheel and the sdist --------------------------------------------------------

@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The sdist, and the wheel that `build` makes from it (as CI and pip do)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=600)
    (sdist,) = out.glob("cnndsl-*.tar.gz")
    (wheel,) = out.glob("cnndsl-*-py3-none-any.whl")
    return sdist, wheel


@pytest.fixture(scope="module")
def site(dist, tmp_path_factory):
    """The wheel unpacked, as pip lays it into site-packages."""
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(dist[1]) as whl:
        whl.extractall(target)
    return target


def _package_files() -> set[str]:
    """Every file of the cnndsl package in the checkout: modules, the lexer, the
    language server and its data (whatever it has), less Python's caches."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "cnndsl").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def test_the_wheel_carries_everything_the_package_refers_to(dist):
    with zipfile.ZipFile(dist[1]) as whl:
        names = set(whl.namelist())
        assert whl.read("cnndsl/grammars/cnn.lark") == (ROOT / "grammars" / "cnn.lark").read_bytes()
        for spec in (ROOT / "specs" / "zoo").glob("*.cnn"):
            assert whl.read(f"cnndsl/specs/zoo/{spec.name}") == spec.read_bytes()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = whl.read(f"{info}/entry_points.txt").decode()
        metadata = whl.read(f"{info}/METADATA").decode()
    assert {f"cnndsl/specs/zoo/{family}" for family, _ in zoo.ZOO.values()} <= names
    assert _package_files() - names == set()
    assert "cnndsl/highlight.py" in names
    assert f"{info}/licenses/LICENSE" in names
    # Each entry point names a module the wheel holds.
    assert "cnndsl = cnndsl.cli:run" in entry_points
    assert "[pygments.lexers]\ncnn = cnndsl.highlight:CnnLexer" in entry_points
    for line in entry_points.splitlines():
        if "=" in line:
            module = line.split("=", 1)[1].strip().split(":")[0]
            assert f"{module.replace('.', '/')}.py" in names, line
    assert "License-Expression: MIT" in metadata
    assert "Description-Content-Type: text/markdown" in metadata
    assert "Requires-Dist: torch" not in metadata.split("Provides-Extra:")[0]  # the light core


def test_the_sdist_holds_the_sources_and_no_local_state(dist):
    with tarfile.open(dist[0]) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    junk = {".venv", ".git", "__pycache__", ".pytest_cache", ".hypothesis", "dist", "build",
            ".benchenv"}
    assert [n for n in names if junk & set(n.split("/")) or n.endswith(".pyc")] == []
    for needed in ("pyproject.toml", "README.md", "LICENSE", "Makefile", "grammars/cnn.lark",
                   "specs/zoo/resnet.cnn", "tests/test_packaging.py", "cnndsl/cli.py"):
        assert needed in names


INSTALLED = PRELUDE + r"""
import importlib
from importlib.metadata import PathDistribution
import pathlib
import cnndsl
from cnndsl.cli import main
site = pathlib.Path(sys.argv[1])
(info,) = site.glob("cnndsl-*.dist-info")
for ep in PathDistribution(info).entry_points:
    ep.load()  # the console script and the Pygments lexer
assert main(["check", "zoo:resnet50", "--json"]) == 0
assert main(["draw", "zoo:efficientnet_b0", "--depth", "1", "-o", "net.dot"]) == 0
pathlib.Path("lenet.cnn").write_bytes(pathlib.Path(sys.argv[2]).read_bytes())
assert main(["fmt", "lenet.cnn"]) == 0 and main(["fmt", "--check", "lenet.cnn"]) == 0
from cnndsl import commands
pathlib.Path("commands.json").write_text(json.dumps(sorted(commands.modules())))
"""


def test_the_unpacked_wheel_checks_draws_and_formats_from_any_folder(site, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    proc, report = _child(INSTALLED, [site, LENET], path=site, cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((work / "commands.json").read_text()) == sorted(commands.modules())
    assert Path(report["cnndsl"]).resolve().is_relative_to(site.resolve())  # not the checkout
    assert json.loads(proc.stdout)["params"] == 25_557_032  # torchvision's resnet50
    assert (work / "net.dot").read_text().startswith("digraph")
    _torch_free(report)


def test_the_readme_renders_on_the_package_index():
    import readme_renderer.markdown  # noqa: PLC0415 (in the test extra)

    html = readme_renderer.markdown.render((ROOT / "README.md").read_text(encoding="utf-8"))
    assert html is not None
    assert '<h2 id="user-content-install">Install' in html
    assert 'pip install "cnndsl[torch]"' in html.replace("&quot;", '"')
