"""`cnndsl fmt`: one canonical layout, comments kept, meaning provably unchanged."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnndsl.diagnostics import CnnError
from cnndsl.fmt import format_source
from cnndsl.network import loads
from test_fuzz import generated_specs

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = sorted((ROOT / "specs").glob("*.cnn")) + sorted((ROOT / "specs" / "zoo").glob("*.cnn"))
REGRESSIONS = sorted((ROOT / "tests" / "fuzz_regressions").glob("*.cnn"))
POSITION = re.compile(r":\d+:\d+")
# As many cases as the profile says (tests/conftest.py: 60 in CI).
CASES = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _cli(*args, stdin=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "cnndsl", *args], capture_output=True, text=True,
                          input=stdin, cwd=cwd)


def _without_positions(value):
    """The check JSON with what moves when lines move taken out: line, file, columns."""
    if isinstance(value, dict):
        return {k: _without_positions(v) for k, v in value.items()
                if k not in ("line", "file", "column", "end_line", "end_column")}
    if isinstance(value, list):
        return [_without_positions(v) for v in value]
    if isinstance(value, str):
        return POSITION.sub(":_:_", value)
    return value


def meaning(text: str):
    """What `cnndsl check --json` says of a spec, with positions removed: the JSON of the
    network, or the diagnostics of a broken one."""
    try:
        net = loads(text, "spec.cnn", max_nodes=20_000)
    except CnnError as err:
        return _without_positions({"diagnostics": [d.to_json() for d in err.diagnostics]})
    doc = net.to_json()
    doc["warnings"] = [w.to_json() for w in net.warnings]
    return _without_positions(doc)


def _parses(path: Path) -> bool:
    try:
        format_source(path.read_text(encoding="utf-8"), str(path))
        return True
    except CnnError:
        return False


FORMATTABLE = COMMITTED + [p for p in REGRESSIONS if _parses(p)]


@pytest.mark.parametrize("path", FORMATTABLE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_spec_keeps_its_meaning_and_formats_once(path):
    text = path.read_text(encoding="utf-8")
    out = format_source(text, str(path))
    assert format_source(out, str(path)) == out  # idempotent
    assert meaning(out) == meaning(text)
    assert _comments(out) == _comments(text)


def test_fuzz_regressions_that_parse_are_covered():
    # The specs refused by the parser's limits are not formatted; the rest are.
    assert len(FORMATTABLE) - len(COMMITTED) >= 8


def _comments(text: str) -> list[str]:
    from cnndsl.fmt import _lex  # the comments as the formatter's lexer finds them
    return [c[2] for c in _lex(text)[1]]


def test_check_json_is_identical_through_the_cli(tmp_path):
    # The issue's own statement of the property, once, through the command line.
    src = ROOT / "specs" / "googlenet.cnn"
    messy = tmp_path / "g.cnn"
    messy.write_text(_respace(src.read_text(encoding="utf-8"), 3), encoding="utf-8")
    before = json.loads(_cli("check", "--json", str(messy)).stdout)
    assert _cli("fmt", str(messy)).returncode == 0
    after = json.loads(_cli("check", "--json", str(messy)).stdout)
    assert _without_positions(after) == _without_positions(before)


def _respace(text: str, seed: int) -> str:
    """The same spec with other horizontal spacing between its tokens (line breaks kept)."""
    from cnndsl.fmt import _lex
    toks, _ = _lex(text)
    out, prev, i = [], 0, seed
    for t in toks:
        gap = text[prev:t.tok.start_pos]
        if "\n" not in gap and "#" not in gap:
            i = (i * 1103515245 + 12345) % 2**31
            gap = ["", " ", "   ", "\t"][i % 4] if prev else gap
            if not gap and out and (out[-1][-1:].isalnum() or out[-1][-1:] in '_"') \
                    and (t.tok.value[:1].isalnum() or t.tok.value[:1] in '_".'):
                gap = " "  # two words, or a number and a name, stay apart
        out += [gap, t.tok.value]
        prev = t.tok.end_pos
    return "".join(out) + text[prev:]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_layout_whatever_the_spacing(seed):
    for path in COMMITTED:
        text = path.read_text(encoding="utf-8")
        respaced = _respace(text, seed + len(text))
        assert respaced != text
        assert format_source(respaced) == format_source(text), path.name


def test_the_canonical_layout():
    messy = ("# head\n\n\nnetwork   n( c=3,\n   d = [1,2 ,3] )   # trailing\ninput [c,  8,8]\n"
             "block b( x , y=-1 ){  # opener\n  conv(x,k = 3,p=(1,1))relu\n  # own line\n\n\n"
             "  if y<0{ relu }\n  else   { sigmoid }\n  -> t\n  x2 = ( x if y>0 else -x )\n"
             "  repeat 2 {\n     conv(x2 , k=1)\n     # before close\n  }\n}\n"
             'stage "s{1+1}" { b(4) as bb relu }\nconcat { path a { conv(2 , k=1) }\n'
             "path { conv(2,k=1) } }\noutput o (training)\n"
             "for (i,j) in [(1,2)] { conv(i*j+1 , k= 1) }"
             "\nglobal_avgpool flatten linear(in.shape[0])\n# end")
    assert format_source(messy) == (
        "# head\n\nnetwork n(c = 3,\n          d = [1, 2, 3])  # trailing\ninput [c, 8, 8]\n"
        "block b(x, y = -1) {  # opener\n    conv(x, k=3, p=(1, 1)) relu\n    # own line\n\n"
        "    if y < 0 { relu } else { sigmoid }\n    -> t\n    x2 = (x if y > 0 else -x)\n"
        "    repeat 2 {\n        conv(x2, k=1)\n        # before close\n    }\n}\n"
        'stage "s{1+1}" { b(4) as bb  relu }\nconcat {\n    path a { conv(2, k=1) }\n'
        "    path { conv(2, k=1) }\n}\noutput o (training)\n"
        "for (i, j) in [(1, 2)] { conv(i * j + 1, k=1) }\n"
        "global_avgpool flatten  linear(in.shape[0])\n# end\n")


def test_a_hanging_bracket_indents_one_level():
    text = "network n(\n  a = 1,\n     b = 2,\n)\ninput [a, 8, 8]\nconv(\n4,\nk=3)\n"
    assert format_source(text) == ("network n(\n    a = 1,\n    b = 2,\n)\ninput [a, 8, 8]\n"
                                   "conv(\n    4,\n    k=3)\n")


def test_a_spec_that_does_not_parse_is_refused_with_its_diagnostic():
    with pytest.raises(CnnError) as err:
        format_source("network x\ninput [1, 8, 8]\nconv(4,, k=3)\n", "bad.cnn")
    assert err.value.diagnostics[0].code == "E0101"
    assert err.value.diagnostics[0].span.line == 3


@st.composite
def _commented(draw):
    """A generated spec with comments between random tokens, on their own line or after
    code; some of them allow warnings (`# allow: W0302`), which depends on their lines."""
    from cnndsl.fmt import _lex
    text = draw(generated_specs())
    toks, _ = _lex(text)
    cuts = sorted(draw(st.lists(st.integers(0, len(toks)), max_size=4)))
    out, prev = [], 0
    for n, cut in enumerate(cuts):
        at = toks[cut - 1].tok.end_pos if cut else 0
        words = draw(st.sampled_from([f"c{n} {{ x", "allow: W0302", "allow: W0301, W0303"]))
        out += [text[prev:at], draw(st.sampled_from(["  ", "\n", "\n\n"])) + f"# {words}\n"]
        prev = at
    return "".join(out) + text[prev:]


@CASES
@given(_commented())
def test_generated_specs_keep_meaning_comments_and_layout(text):
    try:
        out = format_source(text)
    except CnnError:  # generated specs may pass a parser limit; the formatter then refuses
        with pytest.raises(CnnError):
            loads(text)
        return
    assert format_source(out) == out
    assert _comments(out) == _comments(text)
    assert meaning(out) == meaning(text)


# ------------------------------------------------------------ the command line


def test_fmt_rewrites_in_place_and_check_passes_after(tmp_path):
    spec = tmp_path / "n.cnn"
    spec.write_text("network n\ninput [1,8,8]\nconv(4,k=3)  relu\n", encoding="utf-8")
    r = _cli("fmt", "--check", str(spec))
    assert r.returncode == 1
    assert "-conv(4,k=3)  relu" in r.stdout and "+conv(4, k=3) relu" in r.stdout
    assert spec.read_text(encoding="utf-8") == "network n\ninput [1,8,8]\nconv(4,k=3)  relu\n"
    r = _cli("fmt", str(tmp_path))  # a directory: its .cnn files
    assert r.returncode == 0, r.stderr
    assert spec.read_text(encoding="utf-8") == "network n\ninput [1, 8, 8]\nconv(4, k=3) relu\n"
    assert [p.name for p in tmp_path.iterdir()] == ["n.cnn"]  # no temporary left behind
    r = _cli("fmt", "--check", str(spec))
    assert (r.returncode, r.stdout) == (0, "")


def test_fmt_reads_standard_input():
    r = _cli("fmt", "-", stdin="network n\ninput [1,8,8]\nconv(4,k=3)\n")
    assert (r.returncode, r.stdout) == (0, "network n\ninput [1, 8, 8]\nconv(4, k=3)\n")
    r = _cli("fmt", "--check", "-", stdin="network n\ninput [1,8,8]\n")
    assert r.returncode == 1 and "+input [1, 8, 8]" in r.stdout


def test_fmt_leaves_a_broken_spec_alone_and_formats_the_rest(tmp_path):
    bad, good = tmp_path / "bad.cnn", tmp_path / "good.cnn"
    bad.write_text("network x\ninput [1,8,8]\nconv(4,,k=3)\n", encoding="utf-8")
    good.write_text("network y\ninput [1,8,8]\n", encoding="utf-8")
    r = _cli("fmt", str(bad), str(good))
    assert r.returncode == 1
    assert "error[E0101]" in r.stderr and "bad.cnn:3:" in r.stderr and "Traceback" not in r.stderr
    assert bad.read_text(encoding="utf-8") == "network x\ninput [1,8,8]\nconv(4,,k=3)\n"
    assert good.read_text(encoding="utf-8") == "network y\ninput [1, 8, 8]\n"


def test_fmt_of_a_missing_file_is_an_error_without_traceback(tmp_path):
    r = _cli("fmt", str(tmp_path / "none.cnn"))
    assert r.returncode == 2 and "cannot read" in r.stderr and "Traceback" not in r.stderr


def test_fmt_diff_shows_control_characters_escaped(tmp_path):
    spec = tmp_path / "n.cnn"
    spec.write_text("network n\ninput [1,8,8]  # \x1b[2J\n", encoding="utf-8")
    r = _cli("fmt", "--check", str(spec))
    assert r.returncode == 1 and "\x1b" not in r.stdout and "\\x1b[2J" in r.stdout


def test_fmt_does_not_import_torch():
    code = ("import sys, cnndsl.cli; cnndsl.cli.main(['fmt', '--check', 'specs/resnet50.cnn']); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "torch imported" not in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_committed_specs_are_formatted(path):
    # `.venv/bin/python -m cnndsl fmt specs` formats them all.
    text = path.read_text(encoding="utf-8")
    assert format_source(text, str(path)) == text, \
        f"{path.relative_to(ROOT)} is not formatted: run `cnndsl fmt specs`"


@pytest.mark.parametrize("text", [
    # A comment line above allows the statement below it: maxpool stays on that line.
    "network n\ninput [1,9,9]\n# allow: W0302\nstage s { maxpool(k=2, s=3)\n}\nconv(4, k=1)\n",
    # A comment after code allows its line: maxpool stays with it.
    "network n\ninput [1,9,9]\nstage s { maxpool(k=2, s=3)  # allow: W0302\n}\nconv(4, k=1)\n",
    "network n\ninput [1,9,9]\nstage s { conv(4,k=1)\n maxpool(k=2, s=3) }  # allow: W0302\n"
    "conv(4, k=1)\n",
    # Joining `} else` would put the else branch under the comment: not joined.
    "network n\ninput [1,9,9]\n# allow: W0302\nif false { relu }\nelse { maxpool(k=2, s=3) }\n"
    "conv(4, k=1)\n",
    # A blank line dropped before `}` brings the comment next to a token that is no
    # statement: nothing to keep (this once looped forever).
    "network n\ninput [1,9,9]\nstage s { maxpool(k=2, s=3)\n\n# allow: W0302\n\n}\nconv(4, k=1)\n",
])
def test_allow_comments_keep_allowing_the_same_warnings(text):
    out = format_source(text)
    assert format_source(out) == out
    before, after = loads(text), loads(out)
    assert [w.code for w in after.warnings] == [w.code for w in before.warnings]
    assert [w.code for w in after.allowed] == [w.code for w in before.allowed]
    assert meaning(out) == meaning(text)


def test_allow_comments_elsewhere_do_not_stop_the_layout():
    text = ("network n\ninput [1,9,9]\nmaxpool(k=2, s=3)  # allow: W0302\n"
            "stage s { conv(4,k=1)\n relu }\n")
    assert format_source(text) == ("network n\ninput [1, 9, 9]\nmaxpool(k=2, s=3)  # allow: W0302\n"
                                   "stage s {\n    conv(4, k=1)\n    relu\n}\n")
