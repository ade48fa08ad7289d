"""Fuzzing: whatever a spec contains, cnndsl answers with a network or a diagnostic.

The property (issue 6): the only outcomes of checking any input are success
or cnndsl's own :class:`CnnError`; never another exception, never a hang.
Inputs come from these sources: random bytes (invalid UTF-8 included),
random text over the language's characters, specs generated from the
grammar's constructs, valid specs mutated token by token (deleted,
swapped, duplicated, numbers replaced by 0, negative, huge and float
values), API calls with odd parameter overrides and input shapes, and the
hostile families of issue 18: values that double (``t = (t, t)``), control,
bidi and line-break characters wherever spec text can go, and special files
(devices, FIFOs, directories) given to the command line as inputs and outputs.

No case is bounded by the wall clock. The limits bound the work (a smaller
``max_nodes`` than the default, so every case is quick); a case is a hang
only past a CPU-time bound that is calibrated on this machine in this run
(:func:`_hang_bound`), so neither a loaded machine (CPU time does not pass
while waiting for a core) nor a slow one (the calibration is slow too) can
make a spec that finishes look like a hang.

Profiles, picked with the environment variable ``CNNDSL_FUZZ``:

- unset or ``short`` (CI): a few hundred cases, a few seconds;
- ``long``: 25,000 cases per test, over 125,000 in all; run it with
  ``CNNDSL_FUZZ=long nice .venv/bin/python -m pytest -q -s tests/test_fuzz.py``
  (about half an hour on one core; ``-s`` prints the number of cases run).

``CNNDSL_FUZZ_EXAMPLES=N`` sets the number of cases per test directly.
With ``CNNDSL_FUZZ_CRASH_DIR=dir`` every failing input is also written to
``dir`` (named by its hash), and with ``CNNDSL_FUZZ_KEEP_GOING=1`` a
failure is recorded there without stopping the run, so one long run
collects every crash. Each crash found is kept in ``tests/fuzz_regressions/``
and replayed by :func:`test_regressions`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnndsl
from cnndsl.diagnostics import CODES, CnnError
from cnndsl.ops import REGISTRY
from cnndsl.ops.base import Bool, Float, Int, Pair
from cnndsl.parser import _lark

ROOT = Path(__file__).resolve().parent.parent
REGRESSIONS = Path(__file__).resolve().parent / "fuzz_regressions"
SEEDS = sorted((ROOT / "specs").rglob("*.cnn")) + sorted((ROOT / "tests" / "golden").rglob("*.cnn"))

PROFILE = os.environ.get("CNNDSL_FUZZ", "short")
EXAMPLES = int(os.environ.get("CNNDSL_FUZZ_EXAMPLES") or {"short": 60, "long": 25_000}[PROFILE])
# The layer limit the cases run under. At the default (1,000,000) a spec may
# legitimately take half a minute to expand; under a smaller limit every
# case must still be answered at once, which is what shows that the limits
# bound the work (a loop that escaped them would time out here).
FUZZ_MAX_NODES = 20_000
CRASH_DIR = os.environ.get("CNNDSL_FUZZ_CRASH_DIR")
KEEP_GOING = os.environ.get("CNNDSL_FUZZ_KEEP_GOING") == "1"

FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=PROFILE == "short",
                suppress_health_check=list(HealthCheck), database=None)

CASES = {"run": 0, "crashes": 0}


class Hang(Exception):
    """A case ran past the CPU-time bound."""


# The slowest case that finishes (tests/fuzz_regressions/long_sum.cnn, a 400 KB
# spec of one long sum) takes about 25 times the reference workload below, on
# any machine: both are mostly parsing and elaboration. A case is a hang past
# 500 times the reference: twenty times the slowest legitimate case.
HANG_FACTOR = 500
_REFERENCE = "network ref\ninput [3, 16, 16]\n" + (
    "x = (1 + 2) * 3 - 4 // 5 + 6 % 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14\n"
    "conv(4, k=3, p=1) relu\n") * 100


def _reference_cpu_s() -> float:
    """CPU seconds this machine takes to parse and check a 9 KB spec of 200 layers,
    measured now (the median of three): the unit of the hang bound."""
    cnndsl.loads(_REFERENCE)  # warm: the grammar and the imports are not the unit
    times = []
    for _ in range(3):
        start = time.process_time()
        cnndsl.loads(_REFERENCE)
        times.append(time.process_time() - start)
    return sorted(times)[1]


_BOUND: list[float] = []


def _hang_bound() -> float:
    """CPU seconds after which a case is a hang (calibrated once per run)."""
    if not _BOUND:
        _BOUND.append(HANG_FACTOR * max(_reference_cpu_s(), 1e-3))
    return _BOUND[0]


def _on_alarm(signum, frame):
    raise Hang(f"no answer within {_hang_bound():.0f} s of CPU time "
               f"({HANG_FACTOR:,} times the reference network)")


def _record(data: bytes, kind: str, error: BaseException) -> None:
    CASES["crashes"] += 1
    if CRASH_DIR:
        os.makedirs(CRASH_DIR, exist_ok=True)
        name = hashlib.sha1(data).hexdigest()[:16]
        Path(CRASH_DIR, f"{kind}-{name}.cnn").write_bytes(data)
        Path(CRASH_DIR, f"{kind}-{name}.err").write_text(f"{type(error).__name__}: {error}\n")


def _answer(run) -> object:
    """Call ``run`` under the hang bound; the network, or the CnnError it raised.

    The timer counts this process's CPU time (ITIMER_PROF), not the wall
    clock: time spent waiting for a busy core does not count."""
    bound = _hang_bound()
    old = signal.signal(signal.SIGPROF, _on_alarm)
    signal.setitimer(signal.ITIMER_PROF, bound)
    try:
        return run()
    except CnnError as err:
        return err
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


def _well_formed(result) -> None:
    """What a user sees must itself be sound: known codes, renderable output."""
    if isinstance(result, CnnError):
        assert result.diagnostics, "a CnnError without diagnostics"
        for d in result.diagnostics:
            assert d.code in CODES, f"diagnostic code {d.code} is not in cnndsl.diagnostics.CODES"
            assert d.message and d.message == d.message.rstrip(".")
        assert result.render()
    else:
        assert result.summary()
        json.dumps(result.to_json())
        assert result.draw("dot")  # the diagram's source, no `dot` binary needed
        for w in result.warnings:
            assert w.code in CODES and w.severity == "warning"


def check_outcome(run, data: bytes, kind: str) -> None:
    """The property: ``run()`` answers with a Network or a CnnError, in time."""
    CASES["run"] += 1
    try:
        _well_formed(_answer(run))
    except Exception as error:  # noqa: BLE001 (anything else is the bug we hunt)
        _record(data, kind, error)
        if not KEEP_GOING:
            raise


def check_text(text: str, kind: str, **options) -> None:
    options.setdefault("max_nodes", FUZZ_MAX_NODES)
    check_outcome(lambda: cnndsl.loads(text, "fuzz.cnn", **options),
                  text.encode("utf-8", "surrogatepass"), kind)


@pytest.fixture(scope="module", autouse=True)
def _report_count():
    yield
    print(f"\nfuzz profile {PROFILE}: {CASES['run']:,} cases run, {CASES['crashes']} crashes")


# ------------------------------------------------------------------- sources

_SEED_TEXTS = [p.read_bytes().decode("utf-8", "replace") for p in SEEDS] or [
    "network t\ninput [1, 8, 8]\nconv(4, k=3) relu"]

_LANGUAGE_CHARS = "abcdefghijklmnopqrstuvwxyz_ABCXYZ0123456789 \n\t()[]{},.=+-*/%<>!#\"->:;$@\\'"
_INVALID_UTF8 = [b"\xff", b"\xfe", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                 b"\xc0\xaf", b"\x80", b"\x00", b"\xef\xbb\xbf"]


@st.composite
def _bytes_inputs(draw) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    seed = draw(st.sampled_from(_SEED_TEXTS)).encode()
    out = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(out)))
        junk = draw(st.one_of(st.sampled_from(_INVALID_UTF8), st.binary(min_size=1, max_size=8)))
        out[at:at] = junk
    return bytes(out)


# ---------------------------------------------------- grammar-generated specs
#
# Every construct of grammars/cnn.lark, with mostly sensible values so most
# specs get deep into elaboration and the passes, and some odd ones (`in` in
# the header, aliases that clash, calls of blocks not yet defined) that
# exercise the error paths.

_ALIASES = ("input", "a", "relu_1", "conv_1", "path_1", "s1", "main")


def _number(draw, low=1, high=64) -> str:
    return str(draw(st.integers(low, high)))


def _expr(draw, names: tuple, depth: int = 0) -> str:
    choices = ["int", "int", "var", "var", "in", "binary", "tuple_index", "call", "compare",
               "float"]
    kind = draw(st.sampled_from(choices if depth < 3 else ["int", "var"]))
    if kind == "var" and names:
        return draw(st.sampled_from(names))
    if kind == "in":
        return "in." + draw(st.sampled_from(["channels", "height", "width", "features",
                                             "shape[0]", "shape[-1]", "shape"]))
    if kind == "binary":
        op = draw(st.sampled_from(["+", "-", "*", "//", "%", "/", "**"]))
        return f"({_expr(draw, names, depth + 1)} {op} {_expr(draw, names, depth + 1)})"
    if kind == "compare":
        op = draw(st.sampled_from(["==", "!=", "<", ">=", "and", "or"]))
        return f"({_expr(draw, names, depth + 1)} {op} {_expr(draw, names, depth + 1)})"
    if kind == "tuple_index":
        items = ", ".join(_expr(draw, names, depth + 1) for _ in range(draw(st.integers(1, 3))))
        return f"({items},)[{draw(st.integers(-1, 3))}]"
    if kind == "call":
        fn = draw(st.sampled_from(["max", "min", "abs", "int", "len", "range", "floor", "ceil",
                                   "round", "float"]))
        args = ", ".join(_expr(draw, names, depth + 1) for _ in range(draw(st.integers(1, 3))))
        return f"{fn}({args})"
    if kind == "float":
        return draw(st.sampled_from(["0.5", "1.0", "2.5", "1e3", ".5"]))
    return _number(draw, 0, 300)


def _arg_value(draw, arg, names) -> str:
    kind = arg.type
    if draw(st.integers(0, 9)) == 0:
        return _expr(draw, names, 1)
    if isinstance(kind, Int):
        return _number(draw, kind.min or 1, 128)
    if isinstance(kind, Pair):
        if draw(st.booleans()):
            return _number(draw, kind.min, 7)
        return f"({_number(draw, kind.min, 7)}, {_number(draw, kind.min, 7)})"
    if isinstance(kind, Float):
        return draw(st.sampled_from(["0.5", "0.1", "1e-5", "0", "1"]))
    if isinstance(kind, Bool):
        return draw(st.sampled_from(["true", "false"]))
    return _number(draw, 1, 4)


def _alias(draw) -> str:
    return f" as {draw(st.sampled_from(_ALIASES))}" if draw(st.integers(0, 7)) == 0 else ""


def _block_call(draw, names, blocks) -> str:
    name, params = draw(st.sampled_from(sorted(blocks.items())))
    count = draw(st.sampled_from([len(params)] * 4 + [len(params) + 1, max(0, len(params) - 1)]))
    args = [_expr(draw, names, 1) for _ in range(count)]
    if params and draw(st.integers(0, 3)) == 0:  # the last one by keyword
        args[-1:] = [f"{draw(st.sampled_from(params + ('zz',)))}={_expr(draw, names, 1)}"]
    return f"{name}({', '.join(args)})"


def _layer(draw, names, blocks) -> str:
    if blocks and draw(st.integers(0, 3)) == 0:
        return _block_call(draw, names, blocks) + _alias(draw)
    op = draw(st.sampled_from(sorted(k for k, v in REGISTRY.items() if not v.many_inputs)))
    spec = REGISTRY[op]
    if not spec.args:
        return op + _alias(draw)
    parts = []
    positional = True
    for arg in spec.args:
        if not draw(st.integers(0, 2)) and arg.default is not _required():
            positional = False
            continue
        value = _arg_value(draw, arg, names)
        if positional and draw(st.booleans()):
            parts.append(value)
        else:
            positional = False
            written = draw(st.sampled_from((arg.name, *arg.aliases)))
            parts.append(f"{written}={value}")
    return f"{op}({', '.join(parts)})" + _alias(draw)


def _required():
    from cnndsl.ops.base import REQUIRED
    return REQUIRED


def _iterable(draw, names) -> tuple[str, tuple]:
    """A `for` header: its targets and iterable, and the names it binds."""
    kind = draw(st.sampled_from(["list", "pairs", "range", "shape"]))
    if kind == "pairs":
        items = ", ".join(f"({_number(draw, 1, 3)}, {_number(draw, 1, 16)})"
                          for _ in range(draw(st.integers(0, 3))))
        return f"(n, w) in [{items}]", ("n", "w")
    if kind == "range":
        return f"i in range({_expr(draw, names, 2)})", ("i",)
    if kind == "shape":
        return "i in in.shape", ("i",)
    items = ", ".join(_number(draw, 1, 8) for _ in range(draw(st.integers(0, 3))))
    return f"i in [{items}]", ("i",)


def _statements(draw, names, blocks, depth) -> str:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(
            ["layer"] * 6 + (["stage", "repeat", "for", "merge", "if", "assign", "bind"]
                             if depth < 3 else [])))
        inner = lambda extra=(): _statements(draw, names + extra, blocks, depth + 1)  # noqa: E731
        if kind == "layer":
            out.append(_layer(draw, names, blocks))
        elif kind == "stage":
            out.append(f"stage s{draw(st.integers(0, 3))} {{ {inner()} }}")
        elif kind == "repeat":
            count = draw(st.one_of(st.integers(0, 3).map(str), st.just(_expr(draw, names, 2))))
            out.append(f"repeat {count} {{ {inner()} }}")
        elif kind == "for":
            header, bound = _iterable(draw, names)
            out.append(f"for {header} {{ {inner(bound)} }}")
        elif kind == "merge":
            paths = " ".join(
                f"path{draw(st.sampled_from(['', ' main', ' skip']))} "
                f"{{ {inner() if draw(st.integers(0, 3)) else ''} }}"
                for _ in range(draw(st.integers(1, 3))))
            out.append(f"{draw(st.sampled_from(['concat', 'add']))} {{ {paths} }}")
        elif kind == "if":
            cond = draw(st.sampled_from([
                f"in.channels {draw(st.sampled_from(['==', '!=', '<', '>=']))} "
                f"{_expr(draw, names, 2)}",
                _expr(draw, names, 1), "true", "not false"]))
            other = ""
            if draw(st.booleans()):
                other = draw(st.sampled_from([f" else {{ {inner()} }}",
                                              f" else if {_expr(draw, names, 1)} {{ {inner()} }}"]))
            out.append(f"if {cond} {{ {inner()} }}{other}")
        elif kind == "assign":
            out.append(f"{draw(st.sampled_from(('a', 'b', 'x') + names[:2]))} = "
                       f"{_expr(draw, names, 1)}")
        else:
            tensor = draw(st.sampled_from(["t1", "t2"]))
            out.append(f"-> {tensor}" if draw(st.booleans()) else f"from {tensor}")
    return draw(st.sampled_from(["\n", " ", "  "])).join(out)


@st.composite
def generated_specs(draw) -> str:
    params = draw(st.lists(st.sampled_from(["classes", "width", "depth"]), max_size=2, unique=True))
    defaults = []
    for p in params:
        value = draw(st.sampled_from([_number(draw, 1, 16)] * 6 + ["in.channels", "(2, 3)", ""]))
        defaults.append(f"{p} = {value}" if value else p)
    header = f"network gen({', '.join(defaults)})"
    if draw(st.integers(0, 4)):
        dims = [_number(draw, 1, 4), _number(draw, 1, 48), _number(draw, 1, 48)]
        if params and draw(st.integers(0, 3)) == 0:
            dims[0] = draw(st.sampled_from(params))
        shape = f"[{', '.join(dims)}]"
    else:
        shape = f"[{_number(draw, 1, 64)}]"
    blocks: dict = {}
    defs = []
    for i in range(draw(st.integers(0, 3))):
        own = tuple(f"p{j}" for j in range(draw(st.integers(0, 2))))
        declared = [f"{q} = {draw(st.sampled_from(['1', 'in.channels', '(4, 8)']))}"
                    if draw(st.integers(0, 3)) == 0 else q for q in own]
        # Earlier blocks are callable; sometimes this one itself too (recursion).
        callable_ = dict(blocks)
        if draw(st.integers(0, 9)) == 0:
            callable_[f"blk{i}"] = own
        body = _statements(draw, tuple(params) + own, callable_, 1)
        name = f"blk{i}" if draw(st.integers(0, 19)) else draw(st.sampled_from(["relu", "blk0"]))
        defs.append(f"block {name}({', '.join(declared)}) {{\n    {body}\n}}")
        blocks[name] = own
    body = _statements(draw, tuple(params), blocks, 0)
    return "\n".join([header, f"input {shape}", *defs, body, ""])


# ------------------------------------------------------------ mutated specs

_REPLACEMENTS = ["0", "-1", "-7", "1000000000", "99999999999999999999", "9" * 400, "1.5", "0.0",
                 "1e308", "1e999", "-0.5", "2**62", "(1, 2)", "()", "true", '"s"', "in", "[]"]
_INSERTS = ["{", "}", "(", ")", ",", "=", "->", "stage", "repeat", "concat", "path", "if", "else",
            "block", "for", "in", "x", "relu", "conv", "[", "]", "#", "\n", ".", "**", "not",
            "as input", "as", "from", "input", "in.channels", "\"", "network", "add", "-"]


def _tokens(text: str) -> list:
    try:
        return list(_lark().lex(text))
    except Exception:  # noqa: BLE001 (a seed with a lexer error: mutate characters instead)
        return []


@st.composite
def mutated_specs(draw) -> str:
    text = draw(st.one_of(st.sampled_from(_SEED_TEXTS), generated_specs()))
    for _ in range(draw(st.integers(1, 3))):
        tokens = _tokens(text)
        if not tokens:
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.sampled_from(_INSERTS)) + text[at + 1:]
            continue
        i = draw(st.integers(0, len(tokens) - 1))
        tok = tokens[i]
        a, b = tok.start_pos, tok.end_pos
        action = draw(st.sampled_from(["delete", "swap", "duplicate", "number", "number",
                                       "insert", "rename"]))
        if action == "delete":
            text = text[:a] + text[b:]
        elif action == "swap":
            other = tokens[draw(st.integers(0, len(tokens) - 1))]
            if other.start_pos < a:
                tok, other = other, tok
            a, b, c, d = tok.start_pos, tok.end_pos, other.start_pos, other.end_pos
            if b <= c:
                text = text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
        elif action == "duplicate":
            text = text[:b] + " " + text[a:b] + text[b:]
        elif action == "number":
            numbers = [t for t in tokens if t.type in ("INT", "FLOAT")] or [tok]
            tok = draw(st.sampled_from(numbers))
            text = text[:tok.start_pos] + draw(st.sampled_from(_REPLACEMENTS)) + text[tok.end_pos:]
        elif action == "insert":
            text = text[:a] + draw(st.sampled_from(_INSERTS)) + " " + text[a:]
        else:
            names = [t for t in tokens if t.type == "NAME"] or [tok]
            tok = draw(st.sampled_from(names))
            new = draw(st.sampled_from(sorted(REGISTRY) + ["inception", "basic", "in", "c", "zz"]))
            text = text[:tok.start_pos] + new + text[tok.end_pos:]
    return text


# -------------------------------------------------------------------- tests


@FUZZ
@given(_bytes_inputs())
def test_random_bytes_and_invalid_utf8(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "fuzz_input.cnn"
    path.write_bytes(data)
    check_outcome(lambda: cnndsl.load(path, max_nodes=FUZZ_MAX_NODES), data, "bytes")


@FUZZ
@given(st.text(alphabet=st.one_of(st.sampled_from(_LANGUAGE_CHARS), st.characters()), max_size=200))
def test_random_text(text):
    check_text("network t\ninput [3, 32, 32]\n" + text, "text")


@FUZZ
@given(generated_specs())
def test_grammar_generated_specs(text):
    check_text(text, "generated")


@FUZZ
@given(mutated_specs())
def test_mutated_specs(text):
    check_text(text, "mutated")


_VALUES = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.booleans(),
                    st.text(max_size=5), st.tuples(st.integers(-3, 300), st.integers(-3, 300)),
                    st.just(()), st.none())


@FUZZ
@given(st.sampled_from(_SEED_TEXTS),
       st.dictionaries(st.sampled_from(["classes", "in_channels", "layers", "width", "zz"]),
                       _VALUES, max_size=3),
       st.one_of(st.none(), st.tuples(st.integers(-1, 300)),
                 st.tuples(st.integers(-1, 8), st.integers(-1, 300), st.integers(-1, 300))),
       st.integers(1, 2000))
def test_api_overrides(text, params, input_shape, max_nodes):
    check_text(text, "api", input_shape=input_shape, max_nodes=max_nodes, **params)


# ------------------------------------------------ hostile families (issue 18)
#
# What a red-team pass broke, as generators: values that double, characters
# that control a terminal or reorder text, characters that some tools count as
# line breaks, and special files where a regular one is expected.

# Every character some tool takes for a line break (str.splitlines does, lark
# counts only \n), and characters that control a terminal or reorder text.
LINE_BREAKS = ["\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
               "\u2029"]
CONTROLS = ["\x1b[2J\x1b[H", "\x1b[32mAll checks passed\x1b[0m", "\x00", "\x07", "\x08", "\t",
            "\x7f", "\x9b", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u202a",
            "\u202b", "\u202c", "\u202d", "\u200e", "\u200f", "\u061c", "\ufeff", "\u200b"]


def _shown(text: str) -> set:
    """Characters in ``text`` that must not reach a terminal raw: everything not
    printable but the line feed and tab that lay out the output itself."""
    return {c for c in text if c not in "\n\t" and not c.isprintable()}


_GROW = ["(t, t)", "t + t", "(t, t, t)", "(t,)", "((t, 1), t)", "(t, (t, t))"]
_DOUBLE_SEEDS = ["1", "(1, 2)", "range(3)", '"s"', "in.shape", "()", "(1,)"]
_USES = ["if t == u { relu }", "if t < u { relu }", "repeat t { relu }", "b(t)", "b(x=t)",
         "conv(t)", "conv(4, k=t)", "conv(t[0])", "for x in t { relu }",
         "for (a, c) in t { relu }", "repeat len(t) { relu }", "x = min(t)", "x = t + t",
         "x = t[-1]", "linear(t)", "x = (t, u) == (u, t)"]


@st.composite
def doubling_specs(draw) -> tuple[str, dict]:
    """`t = (t, t)` in a loop or along a chain of network parameters, then a use of t.
    Returns the spec and the API parameters to pass (a doubled Python value at times)."""
    times = draw(st.integers(0, 70))
    seed, grow = draw(st.sampled_from(_DOUBLE_SEEDS)), draw(st.sampled_from(_GROW))
    use = draw(st.sampled_from(_USES))
    block = "block b(x = 1) { conv(4, k=1) }\n"
    params: dict = {}
    if draw(st.booleans()):  # in the body: a loop
        header = "network d\ninput [3, 8, 8]\n"
        other = grow.replace("t", "u")
        body = (f"t = {seed}\nrepeat {times} {{ t = {grow} }}\n"
                f"u = {seed}\nrepeat {draw(st.integers(0, times))} {{ u = {other} }}\n")
    else:  # in the header: a chain of parameters, the last one `t`
        chain = [f"p0 = {seed}"] + [f"p{i} = {grow.replace('t', f'p{i - 1}')}"
                                    for i in range(1, min(times, 40) + 1)]
        last = f"p{min(times, 40)}"
        header = f"network d({', '.join(chain)}, t = {last}, u = {last})\ninput [3, 8, 8]\n"
        body = ""
        if draw(st.integers(0, 3)) == 0:  # and from Python, the same shape of value
            value = 1
            for _ in range(times):
                value = (value, value)
            params["u"] = value
    return header + block + body + use + "\n", params


@FUZZ
@given(doubling_specs())
def test_doubling_values(case):
    """Values that double are refused or handled, and no message grows with them."""
    text, params = case
    check_text(text, "doubling", **params)
    result = _answer(lambda: cnndsl.loads(text, "fuzz.cnn", max_nodes=FUZZ_MAX_NODES, **params))
    outputs = [result.render()] if isinstance(result, CnnError) else \
        [result.summary(), json.dumps(result.to_json()), result.draw("dot"), result.to_source()]
    for out in outputs:  # a value of 100,000 items may be kept, not printed whole
        assert len(out) <= 200_000, f"{len(out):,} characters of output"


@st.composite
def hostile_text_specs(draw) -> str:
    """A seed spec with control and bidi characters where spec text can go: comments,
    strings (a block call's label, an argument, an unexpected string), names."""
    text = draw(st.sampled_from(_SEED_TEXTS))
    evil = "".join(draw(st.lists(st.sampled_from(CONTROLS + LINE_BREAKS), min_size=1, max_size=4)))
    where = draw(st.sampled_from(["comment", "label", "argument", "string", "raw", "name"]))
    lines = text.split("\n")
    at = draw(st.integers(2, max(2, len(lines) - 1)))
    if where == "comment":
        insert = f"# {evil} comment"
    elif where == "label":
        lines.insert(2, 'block lbl(s = "") { relu }')
        at = max(at, 3)
        insert = f'lbl("{evil}")'
    elif where == "argument":
        insert = f'conv("{evil}")'
    elif where == "string":
        insert = f'"{evil}"'
    elif where == "raw":
        insert = evil
    else:
        insert = f"relu as a{evil}b"
    lines.insert(min(at, len(lines)), insert)
    return "\n".join(lines)


@FUZZ
@given(hostile_text_specs(), st.sampled_from(["fuzz.cnn", "fu\x1bzz.cnn", "\u202efuzz.cnn"]))
def test_control_and_bidi_characters_never_reach_the_output_raw(text, file):
    """Whatever a spec holds, what cnndsl shows (diagnostics, the summary, the
    diagram source, the generated code) carries no raw control or bidi character."""
    result = _answer(lambda: cnndsl.loads(text, file, max_nodes=FUZZ_MAX_NODES))
    _well_formed(result)
    outputs = [result.render()] if isinstance(result, CnnError) else \
        [result.summary(), result.draw("dot"), result.to_source()]
    for out in outputs:
        assert not _shown(out), f"raw {sorted(_shown(out))!r} in:\n{out[:2000]}"


@st.composite
def line_break_specs(draw) -> str:
    """A seed spec whose line ends and comments carry every kind of line break, with an
    unknown layer `zzbad` on a later line for a diagnostic to point at."""
    lines = draw(st.sampled_from(_SEED_TEXTS)).split("\n")
    body = next((i + 1 for i, line in enumerate(lines) if line.startswith("input")), 2)
    lines.insert(draw(st.integers(body, max(body, len(lines) - 1))), "zzbad")  # in the body
    out = []
    for i, line in enumerate(lines):
        if draw(st.integers(0, 3)) == 0:
            line += f"  # {draw(st.sampled_from(LINE_BREAKS))} after a break"
        end = draw(st.sampled_from(["\n"] * 6 + ["\r\n", "\r", "\x0c\n", "\u2028\n"]))
        out.append(line + (end if i < len(lines) - 1 else ""))
    return "".join(out)


@FUZZ
@given(line_break_specs())
def test_every_line_break_keeps_carets_on_their_text(text):
    """One definition of a line: the line a diagnostic quotes, at its column, is
    the text it is about."""
    result = _answer(lambda: cnndsl.loads(text, "fuzz.cnn", max_nodes=FUZZ_MAX_NODES))
    _well_formed(result)
    if not isinstance(result, CnnError):
        return
    for d in result.diagnostics:
        if d.span is None:
            continue
        line = result.sources.line(d.span.file, d.span.line)
        assert line is not None and 1 <= d.span.column <= len(line) + 1, d
        if d.code == "E0201" and "zzbad" in d.message:  # `unknown layer`, at its name
            assert line[d.span.column - 1:].startswith("zzbad"), (d, line)


# ---------------------------------------- special files given to the CLI


def _cli(args: list[str], cwd: Path, *, feed: Path | None = None,
         drain: Path | None = None) -> tuple[int, bytes, bytes, bytes]:
    """Run ``python -m cnndsl ARGS`` in a child held to 2 GiB of memory and the hang
    bound of CPU time, so a runaway read fails the case instead of taking the
    machine. ``feed``: a FIFO to write a spec into once the child opens it;
    ``drain``: a FIFO to read whatever the child writes into it.
    Returns (exit status, stdout, stderr, what was drained)."""
    cpu = max(1, int(_hang_bound()))

    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "cnndsl", *args], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=limits)
    drained = bytearray()
    reader = os.open(drain, os.O_RDONLY | os.O_NONBLOCK) if drain else None

    def serve():  # the other end of the FIFOs, for as long as the child runs
        while proc.poll() is None:
            if feed is not None:
                try:
                    fd = os.open(feed, os.O_WRONLY | os.O_NONBLOCK)
                except OSError as err:  # ENXIO: the child has not opened it (yet)
                    assert err.errno == errno.ENXIO
                else:
                    os.write(fd, b"network f\ninput [1, 8, 8]\nconv(2, k=3)\n")
                    os.close(fd)
                    return
            if reader is not None:
                try:
                    drained.extend(os.read(reader, 1 << 16))
                except BlockingIOError:
                    pass
            time.sleep(0.01)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    out, err = proc.communicate()
    server.join()
    if reader is not None:
        try:
            drained.extend(os.read(reader, 1 << 20))
        except BlockingIOError:
            pass
        os.close(reader)
    return proc.returncode, out, err, bytes(drained)


def _refused_clearly(code: int, out: bytes, err: bytes) -> None:
    """Exit 1 or 2, a message, no traceback, and output of bounded size."""
    assert code in (1, 2), (code, err[-2000:])
    assert b"Traceback" not in out + err, err[-2000:]
    assert err.strip(), "refused without a word"
    assert len(out) + len(err) <= 64_000


def _special_input(kind: str, tmp: Path) -> tuple[str, Path | None]:
    """A path of this kind, and the FIFO to feed if it is one."""
    if kind == "directory":
        (tmp / "dir.cnn").mkdir()
        return "dir.cnn", None
    if kind == "fifo":
        os.mkfifo(tmp / "fifo.cnn")
        return "fifo.cnn", tmp / "fifo.cnn"
    if kind == "link_to_dev_zero":
        (tmp / "zero.cnn").symlink_to("/dev/zero")
        return "zero.cnn", None
    devices = {"dev_zero": "/dev/zero", "dev_null": "/dev/null", "dev_urandom": "/dev/urandom"}
    return devices[kind], None


# Every kind through `check`; the other commands read specs the same way, so one
# kind each (a child process is a second or more: `compile` imports torch).
_INPUT_CASES = [("check", kind) for kind in ("dev_zero", "dev_urandom", "dev_null", "fifo",
                                             "directory", "link_to_dev_zero")] + \
    [("draw", "dev_zero"), ("compile", "fifo")]


@pytest.mark.parametrize("command, kind", _INPUT_CASES)
def test_special_files_as_inputs(tmp_path, kind, command):
    """A device, a FIFO or a directory where a spec should be: a clear refusal (exit 1
    or 2), never an endless read, a traceback or gigabytes of memory."""
    spec, feed = _special_input(kind, tmp_path)
    _refused_clearly(*_cli([command, spec], tmp_path, feed=feed)[:3])


SPEC = "network f\ninput [1, 8, 8]\nconv(2, k=3)\n"


def _device(tmp: Path, name: str, minor: int) -> Path:
    """A character device like /dev/null (minor 3) or /dev/full (7), made for the
    test: a bug must not replace the machine's own."""
    path = tmp / name
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except PermissionError:
        pytest.skip("making a device node needs root")
    return path


_OUTPUT_CASES = [("draw", kind) for kind in ("directory", "fifo", "null_device", "full_device",
                                             "link_to_file")] + [("compile", "fifo")]


@pytest.mark.parametrize("command, kind", _OUTPUT_CASES)
def test_special_files_as_outputs(tmp_path, kind, command):
    """`-o` at a directory, FIFO, device or symlink: the path keeps its kind (a
    device is never replaced by a text file), a refusal is clear, and what is
    written through arrives whole."""
    (tmp_path / "f.cnn").write_text(SPEC)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    drain = None
    name = "model" + (".py" if command == "compile" else ".dot")  # draw's format: the suffix
    target = out_dir / name
    if kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
        drain = target
    elif kind == "null_device":
        target = _device(out_dir, name, 3)
    elif kind == "full_device":
        target = _device(out_dir, name, 7)
    else:
        real = out_dir / "real.txt"
        real.write_text("old\n")
        target.symlink_to(real)
    mode = os.lstat(target).st_mode
    code, out, err, drained = _cli([command, "f.cnn", "-o", str(target)], tmp_path, drain=drain)
    assert stat.S_IFMT(os.lstat(target).st_mode) == stat.S_IFMT(mode), "the path changed kind"
    assert b"Traceback" not in out + err, err[-2000:]
    assert len(out) + len(err) <= 64_000
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        [target.name] + (["real.txt"] if kind == "link_to_file" else [])), "a file was left"
    if kind == "full_device":
        assert code in (1, 2) and err.strip(), "a write that failed was reported as done"
    elif code == 0:
        if kind == "fifo":
            assert drained.startswith(b"# Generated" if command == "compile" else b"digraph")
        if kind == "link_to_file":
            assert (out_dir / "real.txt").read_text() != "old\n"  # written through the link
        assert kind != "directory", "exit 0 for a directory"
    else:
        assert code in (1, 2) and err.strip(), (code, err[-2000:])


# ------------------------------------------------------------- regressions


@pytest.mark.parametrize("case", sorted(REGRESSIONS.glob("*.cnn")), ids=lambda p: p.name)
def test_regressions(case):
    """Every crash the fuzzer ever found, replayed: it must now be answered."""
    data = case.read_bytes()
    result = _answer(lambda: cnndsl.load(case, max_nodes=FUZZ_MAX_NODES))
    _well_formed(result)
    assert isinstance(result, (cnndsl.Network, CnnError)), data


def test_the_hang_bound_leaves_room_for_the_slowest_case():
    """The bound is CPU time, calibrated here: the slowest spec that finishes (a
    400 KB sum) uses a small part of it however loaded or slow the machine is."""
    start = time.process_time()
    _answer(lambda: cnndsl.load(REGRESSIONS / "long_sum.cnn", max_nodes=FUZZ_MAX_NODES))
    assert time.process_time() - start < _hang_bound() / 5
