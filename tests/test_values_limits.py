"""The size of values is bounded, not only numbers (issue 18, item 4).

``t = (t, t)`` sixty times is sixty Python objects but 2**60 items: comparing,
printing, converting or passing it on walked them all. Values are now
refused past MAX_ITEMS items or MAX_NESTING levels, with a diagnostic on the
expression that built them; the work of building and comparing values
counts against the step limit; and values reach messages only through a
formatter that stops at a length.
"""

from __future__ import annotations

import pytest

import cnndsl
from cnndsl.expressions import MAX_ITEMS, MAX_NESTING, json_value, measure, show_value

HEAD = "network t\ninput [3, 8, 8]\n"


def _doubled(times: int, name: str = "t") -> str:
    return f"{name} = 1\nrepeat {times} {{ {name} = ({name}, {name}) }}\n"


def _errors(text: str, **options) -> cnndsl.CnnError:
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(text, "v.cnn", **options)
    return err.value


def _too_large(err: cnndsl.CnnError, line: int, column: int) -> None:
    """The first diagnostic is E0307 "value too large" at the tuple that passed the limit."""
    d = err.diagnostics[0]
    assert d.code == "E0307" and d.message.startswith("value too large"), d
    assert (d.span.line, d.span.column) == (line, column)
    assert len(err.render()) < 2_000  # whatever the value, the report stays short


DOUBLING_USES = {
    "compare": _doubled(60, "u") + "if t == u { relu }\n",
    "repeat": "repeat t { relu }\n",
    "block": "block b(x) { conv(x) }\nb(t)\n",
    "layer": "conv(t)\n",
    "for": "for x in t { relu }\n",
    "concat": "w = t + t\n",
    "len": "repeat len(t) { relu }\n",
}


@pytest.mark.parametrize("use", DOUBLING_USES)
def test_doubling_sixty_times_is_refused_where_it_passes_the_limit(use):
    err = _errors(HEAD + _doubled(60) + DOUBLING_USES[use])
    _too_large(err, 4, 17)  # `(t, t)` in `repeat 60 { t = (t, t) }`
    # The uses of the poisoned value stay quiet: one error for `t` (and one for `u`).
    assert len(err.diagnostics) == (2 if use == "compare" else 1)


@pytest.mark.parametrize("use", DOUBLING_USES)
def test_a_million_items_are_refused_too(use):
    """2**20 items: small enough that the old code answered, wrongly, with a
    six-megabyte message or a successful comparison."""
    _too_large(_errors(HEAD + _doubled(20) + DOUBLING_USES[use].replace("60", "20")), 4, 17)


def test_forty_network_parameters_built_by_doubling():
    params = ", ".join(["p0 = 1"] + [f"p{i} = (p{i - 1}, p{i - 1})" for i in range(1, 40)])
    err = _errors(f"network t({params})\ninput [3, 8, 8]\nrelu\n")
    d = err.diagnostics[0]
    assert d.code == "E0307" and d.message.startswith("value too large")
    # p16 is the first above the limit: 2 + 4 + ... + 2**17 items.
    assert (d.span.line, d.span.column) == (1, params.index("(p15, p15)") + len("network t(") + 1)
    assert len(err.render()) < 2_000


def test_nesting_is_bounded():
    text = HEAD + "t = 1\nrepeat 200 { t = (t,) }\nrelu\n"
    d = _errors(text).diagnostics[0]
    assert (d.code, d.span.line, d.span.column) == ("E0307", 4, 18)
    assert d.message == f"value nested too deep (the limit is {MAX_NESTING} levels of tuples)"


def test_values_within_the_limits_still_work():
    net = cnndsl.loads(HEAD + _doubled(15) + "u = 1\nrepeat 15 { u = (u, u) }\n"
                       "if t == u and len(t) == 2 { conv(4, k=1) }\nfor (a, b) in t { relu }\n")
    assert net.output_shape == (4, 8, 8) and len(net.layers()) == 3


def test_building_values_counts_against_the_step_limit():
    """Each turn copies 65,536 items: 2,000 turns are 131 million items of work
    for a spec of a few lines; the step limit (210,000 here) now sees it."""
    text = HEAD + "w = (1,)\nrepeat 16 { w = w + w }\nrepeat 2000 { z = w + () }\nrelu\n"
    d = _errors(text, max_nodes=20_000).diagnostics[0]
    assert (d.code, d.span.line) == ("E0402", 5)
    cnndsl.loads(text.replace("2000", "100"))  # 6.5 million: within the default 10 million


def test_comparing_values_counts_against_the_step_limit():
    text = HEAD + _doubled(15) + _doubled(15, "u") + "repeat 2000 { if t == u { } }\nrelu\n"
    d = _errors(text, max_nodes=40_000).diagnostics[0]  # building t and u fits in the steps
    assert (d.code, d.span.line) == ("E0402", 7)


def _shared(times: int):
    t = 1
    for _ in range(times):
        t = (t, t)
    return t


def _nested(depth: int):
    t = ()
    for _ in range(depth):
        t = (t,)
    return t


@pytest.mark.parametrize("value", [_shared(60), _nested(100_000)], ids=["shared", "deep"])
def test_api_values_are_measured_not_walked(value):
    """A parameter set from Python may be any tuple: it is refused, not walked
    (a deep one made a RecursionError, a shared one never ended)."""
    err = _errors("network t(p = 1)\ninput [3, 8, 8]\nrelu\n", p=value)
    d = err.diagnostics[0]
    assert d.code == "E0206" and d.message.startswith("`p=`: value")  # the API speaks of keyword arguments


@pytest.mark.parametrize("value", [_shared(60), _nested(100_000), "x" * 10**6,
                                   tuple(range(10**6)), range(10**18), 10**18, 1.5e300])
def test_show_value_is_bounded(value):
    for limit in (10, 40, 200):
        assert len(show_value(value, limit)) <= limit + 3


def test_show_value_writes_values_as_the_spec_does():
    assert show_value((1, (2.5, True), "a", ())) == '(1, (2.5, true), "a", ())'
    assert show_value((7,)) == "(7,)"
    assert show_value(tuple(range(30)), 20) == "(0, 1, 2, 3, 4, 5..."
    assert show_value('\x1b[2J\u202e', 40) == '"\\x1b[2J\\u202e"'  # no terminal control


def test_measure_counts_items_at_every_level_and_shared_parts_as_often_as_they_occur():
    assert measure(5) == (0, 0)
    assert measure(()) == (0, 1)
    assert measure((1, (2, 3), ((4,),))) == (7, 3)
    assert measure(_shared(10)) == (2**11 - 2, 10)
    assert measure(_shared(60))[0] > MAX_ITEMS
    assert measure(_nested(MAX_NESTING + 1))[1] > MAX_NESTING


def test_json_value_is_data_when_small_and_text_when_large():
    assert json_value(((1, 2), range(3), True)) == [[1, 2], [0, 1, 2], True]
    assert json_value(range(10**18)) == "range(0, 1000000000000000000)"
    big = json_value(_shared(60))
    assert isinstance(big, str) and len(big) < 100


def test_a_block_call_as_long_as_a_file_is_shown_cut():
    """The call's text labels its rows and notes: a 100,000-term argument must not."""
    call = "b(" + " + ".join(["1"] * 50) + ", " + "0" * 100_000 + ")"
    text = HEAD + "block b(x, y) { conv(x, k=y) }\n" + call + "\n"
    err = _errors(text)
    assert len(err.render()) < 2_000
    note = next(n for d in err.diagnostics for n in d.notes if n.startswith("in block"))
    assert note.startswith("in block `b(1 + 1 + 1") and "...`" in note and len(note) < 250
