"""The docs run: every ```cnn example in docs/*.md checks as the page says.

Conventions for examples (see docs/language.md):

- a ```cnn block is a complete spec and must check without errors;
- with ``file=PATH`` in its info string (```cnn file=specs/lenet.cnn) it
  must also equal that file, so a tutorial cannot drift from the specs;
- a ```text block right after it is the expected output: diagnostics
  (starting `error[` or `warning[`) must equal what `cnndsl check` prints
  on stderr, without the final "N errors in FILE" line; anything else is an
  excerpt of the summary: its lines must appear in order, `...` skipping
  any number of lines;
- the file name in diagnostics is the one their `-->` line shows
  (`example.cnn` if none);
- an expected block that starts with `$ cnndsl ARGS` (docs/errors.md) is
  a transcript: the example must equal the spec file it names, and running
  the command from the repository root must print the rest on stderr.

Also here: the layer reference in docs/language.md equals what the op
registry says, and the gallery (docs/gallery/) is not stale.
"""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

import cnndsl
from cnndsl import gallery, layer_docs
from cnndsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```\s*$", re.M | re.S)


def examples():
    """(doc, line, info, spec text, expected output or None) for every ```cnn block."""
    out = []
    for doc in DOCS:
        text = doc.read_text("utf-8")
        blocks = [(m.group(1), m.group(2).strip(), m.group(3), m.start(), m.end())
                  for m in FENCE.finditer(text)]
        for i, (lang, info, body, start, end) in enumerate(blocks):
            if lang != "cnn":
                continue
            expected = None
            if i + 1 < len(blocks) and blocks[i + 1][0] == "text" \
                    and not text[end:blocks[i + 1][3]].strip():
                expected = blocks[i + 1][2]
            line = text.count("\n", 0, start) + 1
            out.append(pytest.param(doc, info, body, expected, id=f"{doc.name}:{line}"))
    return out


def test_the_docs_have_examples():
    names = {p.values[0].name for p in examples()}
    assert {"language.md", "tutorial.md"} <= names
    assert len(examples()) >= 30


def _options(info: str) -> dict:
    return dict(item.split("=", 1) for item in info.split() if "=" in item)


def _excerpt_matches(expected: str, actual: str) -> bool:
    """Every expected line appears in ``actual`` in order; `...` skips lines."""
    lines = [ln.rstrip() for ln in actual.splitlines()]
    pos, skipping = 0, True  # the excerpt may start anywhere
    for want in (ln.rstrip() for ln in expected.strip("\n").splitlines()):
        if want == "...":
            skipping = True
            continue
        if skipping:
            while pos < len(lines) and lines[pos] != want:
                pos += 1
        if pos >= len(lines) or lines[pos] != want:
            return False
        pos, skipping = pos + 1, False
    return True


def _spec_file(name: str) -> str:
    """A spec file as a page shows it: whole, golden-test directives (`# golden: ...`)
    too, since the line numbers in what check prints count them."""
    return (ROOT / name).read_bytes().decode("utf-8", "replace")


def _transcript(spec, expected, capsys, monkeypatch):
    """`$ cnndsl ARGS` then its stderr: run it from the repository root and compare."""
    command, _, shown = expected.partition("\n")
    argv = shlex.split(command[2:])
    while "=" in argv[0]:  # `VAR=value cnndsl ...`
        name, _, value = argv.pop(0).partition("=")
        monkeypatch.setenv(name, value)
    assert argv[0] == "cnndsl"
    files = [a for a in argv if a.endswith(".cnn")]
    assert files, f"no spec named in {command!r}"
    assert spec == _spec_file(files[0]), f"the example differs from {files[0]}"
    monkeypatch.chdir(ROOT)
    capsys.readouterr()
    try:
        main(argv[1:])
    except SystemExit:
        pass
    assert capsys.readouterr().err.rstrip() == shown.rstrip()


@pytest.mark.parametrize("doc, info, spec, expected", examples())
def test_example(doc, info, spec, expected, capsys, monkeypatch):
    if expected is not None and expected.startswith("$ "):
        _transcript(spec, expected, capsys, monkeypatch)
        return
    if expected is not None and expected.startswith(">>> "):
        # A Python session (errors.md, run by tests/test_golden.py): here, the spec it
        # loads must be the example, and the example must check.
        named = re.search(r"[\w/.-]+\.cnn", expected).group(0)
        assert spec == _spec_file(named), f"the example differs from {named}"
        cnndsl.loads(spec, named)
        return
    options = _options(info)
    if "file" in options:
        assert spec == (ROOT / options["file"]).read_text("utf-8"), \
            f"the example differs from {options['file']}"
    diagnostic = expected is not None and re.match(r"(error|warning)\[", expected)
    where = re.search(r"--> ([^:\s]+):\d+:\d+", expected or "")
    file = where.group(1) if where else options.get("file", "example.cnn")
    try:
        net = cnndsl.loads(spec, file)
    except cnndsl.CnnError as err:
        if not diagnostic:
            pytest.fail(f"example in {doc.name} does not check:\n{err.render()}")
        assert err.render().rstrip() == expected.rstrip()
        return
    assert not diagnostic, "the page shows an error, but the spec checks"
    if expected is not None:
        assert _excerpt_matches(expected, net.summary()), \
            f"expected lines not in the summary:\n{expected}\n--- actual:\n{net.summary()}"


def test_excerpt_matching_can_fail():
    actual = "a\nb\nc\nd"
    assert _excerpt_matches("a\n...\nd", actual)
    assert _excerpt_matches("b\nc", actual)
    assert not _excerpt_matches("a\nc", actual)  # without `...`, lines are consecutive
    assert not _excerpt_matches("d\n...\na", actual)


# ----------------------------------------------------------------- layer reference


def test_layer_reference_is_generated_from_the_registry():
    assert layer_docs.current() == layer_docs.layer_table(), \
        "docs/language.md is out of date: run `python -m cnndsl.layer_docs`"


def test_layer_reference_covers_every_layer_and_alias():
    table = layer_docs.layer_table()
    from cnndsl.ops import NAMES, REGISTRY
    for name, op in REGISTRY.items():
        assert f"### `{name}`" in table
        assert op.shape_doc
        for a in op.args:
            assert f"| `{a.name}` |" in table
    for alias in NAMES:
        assert f"`{alias}`" in table
    assert "| `kernel` | `k`, `kernel_size` | int or (h, w), >= 1 | required |" in table
    assert "| `stride` | `s` | int or (h, w), >= 1 | defaults to the kernel |" in table


# --------------------------------------------------------------------------- gallery


def test_gallery_is_not_stale():
    assert gallery.stale() == [], "run `make gallery` (python -m cnndsl.gallery)"


def test_gallery_covers_every_spec():
    names = {e.spec for e in gallery.entries()}
    specs = {p.relative_to(ROOT).as_posix() for p in (ROOT / "specs").rglob("*.cnn")}
    assert specs <= names


def test_gallery_staleness_is_detected(tmp_path):
    (tmp_path / "specs").mkdir()
    (tmp_path / "docs" / "gallery").mkdir(parents=True)
    spec = tmp_path / "specs" / "tiny.cnn"
    spec.write_text("network tiny\ninput [1, 8, 8]\nconv(4, k=3)\n")
    for e in gallery.EXTRAS:  # the extras need their specs too
        (tmp_path / e.spec).write_text((ROOT / e.spec).read_text())
    assert "docs/gallery/tiny.dot" in gallery.stale(tmp_path)
    if shutil.which("dot"):
        gallery.build(tmp_path)
        assert gallery.stale(tmp_path) == []
        spec.write_text("network tiny\ninput [1, 8, 8]\nconv(5, k=3)\n")
        assert gallery.stale(tmp_path) == ["docs/gallery/tiny.dot"]


def _dot_version():
    out = subprocess.run(["dot", "-V"], capture_output=True, text=True).stderr
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else None


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")
def _svg_text(svg: str) -> list[str]:
    return re.findall(r"<(?:title|text)[^>]*>([^<]*)<", svg)


def test_gallery_svgs_match_their_dot_source():
    """Each committed svg is what this `dot` makes of the committed .dot.

    svg bytes depend on the Graphviz version; the comparison runs only where
    the installed `dot` is the version that wrote the svg (it says so in the
    file), and the .dot check above holds on any machine.
    """
    from cnndsl.backends.graphviz_dot import render

    here = _dot_version()
    compared = 0
    for e in gallery.entries():
        svg = (ROOT / "docs" / "gallery" / f"{e.name}.svg").read_text("utf-8")
        made_by = re.search(r"Generated by graphviz version (\S+)", svg)
        if made_by is None or made_by.group(1) != here:
            continue
        dot = (ROOT / "docs" / "gallery" / f"{e.name}.dot").read_text("utf-8")
        made = render(dot, "svg").decode("utf-8")
        # What the picture says: every title and text, in order. Not the coordinates:
        # dot 2.43 routes some graphs differently from run to run (U-Net's flat-ranked
        # levels between clusters: 4 distinct svgs in 10 runs of the same .dot).
        assert _svg_text(made) == _svg_text(svg), f"{e.name}.svg is stale"
        compared += 1
    if not compared:
        pytest.skip(f"the gallery was rendered by another Graphviz than {here}")
