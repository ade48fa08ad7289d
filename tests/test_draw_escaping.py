"""Spec text reaches dot, the svg and a terminal only escaped (issues 17 and 18).

Block-call strings and file names are the spec text a diagram shows. Each
hostile string must leave the dot source free of raw control, format and
separator characters (an escape sequence clearing the terminal, a
right-to-left override: CVE-2021-42574), `dot` must accept the source,
and the svg must be well-formed XML that shows the string escaped.
"""

import html
import re
import shutil
import xml.etree.ElementTree as ET

import pytest

import cnndsl
from cnndsl.backends import graphviz_dot as gv
from cnndsl.cli import main

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")

# (text in a spec string, how a label shows it); None: a line break, which cuts the
# label at the end of its line, so only well-formedness is checked.
CASES = [
    ("\x1b[2J\x1b[H\x1b[32mAll checks passed\x1b[0m", "\\x1b[2J\\x1b[H\\x1b[32mAll checks passed\\x1b[0m"),
    ("abc\u202edef", "abc\\u202edef"),
    ("x\u2066y\u2069z", "x\\u2066y\\u2069z"),
    ("nul\x00here", "nul\\x00here"),
    ("del\x7f bell\x07", "del\\x7f bell\\x07"),
    ("<b>&amp;{}|</b>", "<b>&amp;{}|</b>"),
    ("back\\", "back\\"),
    ("\\N \\G \\E \\l \\n \\\\", "\\N \\G \\E \\l \\n \\\\"),  # dot expands these: not here
    ("zero\u200bwidth \ufeffbom", "zero\\u200bwidth \\ufeffbom"),
    ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
    ("form\x0cfeed", None),
    ("line\u2028sep", None),
    ("car\rriage", None),
    ("next\x85line", None),
    ("vt\x0bfs\x1c", None),
]

RAW = "\x00\x07\x0b\x0c\x1b\x7f\x85\u200b\u2028\u202e\u2066\u2069\ufeff\ud800"


def spec(text):
    # One call drawn as a cluster (its label is the call), one as a single box (a header).
    return (f'network t\ninput [1, 8, 8]\n'
            f'block two(s) {{ conv(4, k=3, p=1)  conv(4, k=1) }}\n'
            f'block one(s) {{ conv(4, k=1) relu }}\n'
            f'two("{text}")\none("{text}")\n')


def assert_clean(source):
    """No character a terminal or dot would act on: printable text, tabs and newlines."""
    odd = {c for c in source if not c.isprintable() and c not in "\t\n"}
    assert not odd, f"raw characters in the dot source: {sorted(odd)}"


def svg_text(svg: bytes) -> str:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    return " ".join("".join(root.itertext()).split())


@pytest.mark.parametrize("text, shown", CASES)
def test_block_call_strings_are_escaped_in_the_dot_source(text, shown):
    source = gv.to_dot(cnndsl.loads(spec(text), "t.cnn").graph)
    assert_clean(source)
    # Node ids and cluster names come from identifiers only, never from a string.
    ids = re.findall(r'^\s*(?:subgraph )?("[^"]*"|\S+) [\[{]', source, re.M)
    assert ids and all(re.fullmatch(r'"?[\w.@]+"?', x) for x in ids), ids
    if shown is not None:
        labels = [ln for ln in source.splitlines() if "two(" in ln or "one(" in ln]
        assert len(labels) == 2
        for line in labels:
            assert _html_text(shown) in line


@needs_dot
@pytest.mark.parametrize("text, shown", CASES)
def test_block_call_strings_render_to_well_formed_svg(text, shown):
    source = gv.to_dot(cnndsl.loads(spec(text), "t.cnn").graph)
    text_of_svg = svg_text(gv.render(source, "svg"))
    assert not set(RAW) & set(text_of_svg)
    if shown is not None:
        assert text_of_svg.count(" ".join(shown.split())) == 2


FILE_NAMES = ['we"ird\\ <&>|{}.cnn', "esc\x1b[2J\u202e\u2066.cnn", "new\nline\x0c\u2028.cnn",
              "cnndsl \\N\\G.cnn"]
BAD = "network t\ninput [3, 32, 32]\nstage a { conv(8, k=3) relu }\nconv(16, k=0) relu\n"


@pytest.mark.parametrize("name", FILE_NAMES)
def test_file_names_in_error_boxes_are_escaped(name):
    with pytest.raises(cnndsl.CnnError) as info:
        cnndsl.loads(BAD, name)
    source = gv.to_dot(info.value.graph, diagnostics=info.value.diagnostics)
    assert_clean(source)
    shown = name.encode("unicode_escape").decode("ascii") if not name.isprintable() else name
    assert _html_text(f"{shown}:4:10") in source


@needs_dot
@pytest.mark.parametrize("name", FILE_NAMES)
def test_cli_partial_svg_with_a_hostile_file_name_is_well_formed(tmp_path, name, capsys):
    path = tmp_path / name
    path.write_text(BAD)
    out = tmp_path / "out.svg"
    assert main(["draw", str(path), "--partial", "-o", str(out)]) == 1
    text = svg_text(out.read_bytes())
    assert "error[E0206]" in text and not set(RAW) & set(text)


def test_cli_stdout_carries_no_terminal_or_bidi_control(tmp_path, capsys):
    path = tmp_path / "t.cnn"
    path.write_text(spec("\x1b[2J\x1b[H\u202eevil\u2066"), encoding="utf-8")
    assert main(["draw", str(path)]) == 0
    out = capsys.readouterr().out
    assert_clean(out)
    assert _html_text("\\x1b[2J\\x1b[H\\u202eevil\\u2066") in out


def test_an_overlong_string_is_cut_in_the_label():
    source = gv.to_dot(cnndsl.loads(spec("x" * 100_000), "t.cnn").graph)
    assert len(source) < 5_000 and "x" * 41 not in source  # cut in the label


def _html_text(text):
    """``text`` as it appears inside an HTML-like label (dot reads `\\\\` as one backslash)."""
    return html.escape(text).replace("\\", "\\\\")
