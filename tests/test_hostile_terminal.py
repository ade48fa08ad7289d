"""Spec text shown on a terminal or in an editor is escaped (issue 18, item 2).

A block call's label such as ``b("\\x1b[2J...All checks passed")`` must not
clear the terminal through `check`'s table, an "in block" note or a
syntax error, and bidi controls must not reach generated code as raw
characters (Trojan Source, CVE-2021-42574).
"""

from __future__ import annotations

import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.diagnostics import visible

FAKE = "\x1b[2J\x1b[H\x1b[32mAll checks passed\x1b[0m"
BIDI = "\u202e\u2066\u200f\u061c"
SPEC = ('network t\ninput [1, 8, 8]\nblock b(s) {{ conv(2, k=1) {inner}}}\n'
        'b("{label}") relu\n{tail}')


def _raw(text: str) -> set[str]:
    return {c for c in text if not c.isprintable() and c != "\n"}


def _run(tmp_path, capsys, text: str, *args: str):
    spec = tmp_path / "s.cnn"
    spec.write_text(text)
    code = main([args[0], str(spec), *args[1:]])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("extra", [(), ("--input", "1xHxW")])
def test_the_check_table_escapes_a_block_label(tmp_path, capsys, extra):
    code, out, err = _run(tmp_path, capsys, SPEC.format(inner="", label=FAKE + BIDI, tail=""),
                          "check", *extra)
    assert code == 0
    assert not _raw(out + err)
    # cut to the columns, which end with what the block yields
    assert 'b("\\x1b[2J\\x1b[H\\x1b[32mAll' in out


def test_an_in_block_note_escapes_the_call(tmp_path, capsys):
    code, _, err = _run(tmp_path, capsys, SPEC.format(inner="linear(3) ", label=FAKE, tail=""),
                        "check")
    assert code == 1 and not _raw(err)
    assert 'in block `b("\\x1b[2J' in err


def test_an_unexpected_string_is_escaped_in_e0101(tmp_path, capsys):
    code, _, err = _run(tmp_path, capsys, SPEC.format(inner="", label="x",
                                                      tail=f'"{FAKE}{BIDI}"\n'), "check")
    assert code == 1 and "error[E0101]" in err and not _raw(err)
    assert '\\x1b[32mAll checks passed' in err


def test_a_file_name_is_escaped_in_diagnostics():
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads("network t\ninput [1, 8, 8]\nbogus\n", f"evil{FAKE}\n.cnn")
    shown = err.value.render()
    assert not _raw(shown) and "--> evil\\x1b[2J" in shown


def test_generated_comments_carry_no_bidi_or_control(tmp_path, capsys):
    code, _, _ = _run(tmp_path, capsys, SPEC.format(inner="", label=BIDI + FAKE, tail=""),
                      "compile", "-o", str(tmp_path / "out.py"))
    assert code == 0
    text = (tmp_path / "out.py").read_text()
    assert not _raw(text)  # no control or bidi character, wherever a call's text shows
    module = cnndsl.loads(SPEC.format(inner="", label=BIDI + FAKE, tail=""), "s.cnn").to_module()
    assert not _raw(repr(module))  # print(model) shows the label too


def test_visible_escapes_every_terminal_and_bidi_control():
    controls = [chr(c) for c in range(32)] + ["\x7f", "\x85", "\u2028", "\u2029", "\ufeff"] + \
        [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)] + \
        ["\u200e", "\u200f", "\u061c"]
    for c in controls:
        shown = visible(f"a{c}b")
        assert shown.isprintable() and shown.startswith("a\\") and shown.endswith("b"), repr(c)
    assert visible("conv(3) é 中 \\n") == "conv(3) é 中 \\n"  # printable text stays
