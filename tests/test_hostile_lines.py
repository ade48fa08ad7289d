"""One definition of a line (issue 18, item 9).

lark numbers lines by ``\\n`` alone; every quoted line, caret and block
label must count the same way, whatever other line-break characters
(CR, form feed, vertical tab, U+2028, NEL...) a file holds.
"""

from __future__ import annotations

import pytest

import cnndsl
from cnndsl.diagnostics import Sources, split_lines

BREAKS = ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def _error(text: str) -> str:
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(text, "s.cnn")
    return err.value.render()


def _caret_under(rendered: str, word: str) -> None:
    """The quoted line holds `word` and the caret row starts exactly below it."""
    lines = rendered.split("\n")
    quoted = next(i for i, line in enumerate(lines) if " | " in line and "^" not in line
                  and line.split(" | ", 1)[1].strip())
    source, marker = lines[quoted], lines[quoted + 1]
    assert marker.index("^") == source.index(word), rendered
    assert marker[marker.index("^"):].startswith("^" * len(word)), rendered


@pytest.mark.parametrize("brk", BREAKS)
def test_a_line_break_character_in_a_comment_moves_no_caret(brk):
    text = f"network t\ninput [1, 8, 8]\n# a {brk} comment\nconv(4, k=3)\n  bogus(1)\n"
    shown = _error(text)
    assert "--> s.cnn:5:3" in shown
    assert "5 |   bogus(1)" in shown
    _caret_under(shown, "bogus")


def test_a_cr_only_file_is_one_line_and_the_caret_finds_the_name():
    # lark sees one line; the quoted line is that line, its CRs escaped
    # (cut to a window around the span), and the caret is under the name.
    shown = _error("network t\rinput [1, 8, 8]\rconv(4, k=3)\r  bogus(1)\r")
    assert "--> s.cnn:1:42" in shown
    assert "\r" not in shown
    _caret_under(shown, "bogus")


def test_a_windows_file_quotes_its_lines_without_the_cr():
    shown = _error("network t\r\ninput [1, 8, 8]\r\nconv(4, k=3)\r\n\tbogus(1)\r\n")
    assert "--> s.cnn:4:2" in shown and "4 |     bogus(1)\n" in shown + "\n"
    _caret_under(shown, "bogus")


@pytest.mark.parametrize("brk", BREAKS)
def test_a_block_label_is_the_text_of_its_call(brk):
    text = (f"network t\ninput [1, 8, 8]\n# {brk}\nblock b(s) {{ conv(2, k=1) }}\n"
            f"b(7)\n# {brk}{brk}\nb(8)\n")
    net = cnndsl.loads(text, "s.cnn")
    labels = [label for _, _, label in
              (net.graph.nodes[v]["scope"][0] for v in net.layers())]
    assert labels == ["b(7)", "b(8)"]
    assert "b_1                          b(7)" in net.summary()


def test_a_note_quotes_the_call_of_the_failing_block():
    text = "network t\ninput [1, 8, 8]\n#\x0c\nblock b(s) { linear(2) }\nb(5)\n"
    shown = _error(text)
    assert "in block `b(5)`" in shown


def test_sources_and_split_lines_count_as_lark_does():
    text = "a\r\nb\x0cc\u2028d\re\nf"
    assert split_lines(text) == ["a", "b\x0cc\u2028d\re", "f"]
    sources = Sources({"f": text})
    assert [sources.line("f", n) for n in (1, 2, 3, 4)] == ["a", "b\x0cc\u2028d\re", "f", ""]
    assert sources.line("other", 1) is None
