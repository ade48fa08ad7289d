"""Fuzzing: whatever a spec contains, cnndsl answers with a network or a diagnostic.

The property (issue 6): the only outcomes of checking any input are success
or cnndsl's own :class:`CnnError`; never another exception, never a hang.
Inputs come from five sources: random bytes (invalid UTF-8 included),
random text over the language's characters, specs generated from the
grammar's constructs, valid specs mutated token by token (deleted,
swapped, duplicated, numbers replaced by 0, negative, huge and float
values), and API calls with odd parameter overrides and input shapes.

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

import hashlib
import json
import os
import signal
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
TIME_BOUND_S = 10.0  # per case; generous for a shared 2-core machine, far below a hang
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
    """A case ran past the time bound."""


def _on_alarm(signum, frame):
    raise Hang(f"no answer within {TIME_BOUND_S} s")


def _record(data: bytes, kind: str, error: BaseException) -> None:
    CASES["crashes"] += 1
    if CRASH_DIR:
        os.makedirs(CRASH_DIR, exist_ok=True)
        name = hashlib.sha1(data).hexdigest()[:16]
        Path(CRASH_DIR, f"{kind}-{name}.cnn").write_bytes(data)
        Path(CRASH_DIR, f"{kind}-{name}.err").write_text(f"{type(error).__name__}: {error}\n")


def _answer(run) -> object:
    """Call ``run`` under the time bound; the network, or the CnnError it raised."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_BOUND_S)
    try:
        return run()
    except CnnError as err:
        return err
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


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
    check_outcome(lambda: cnndsl.loads(text, file="fuzz.cnn", **options),
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


# ------------------------------------------------------------- regressions


@pytest.mark.parametrize("case", sorted(REGRESSIONS.glob("*.cnn")), ids=lambda p: p.name)
def test_regressions(case):
    """Every crash the fuzzer ever found, replayed: it must now be answered."""
    data = case.read_bytes()
    result = _answer(lambda: cnndsl.load(case, max_nodes=FUZZ_MAX_NODES))
    _well_formed(result)
    assert isinstance(result, (cnndsl.Network, CnnError)), data
