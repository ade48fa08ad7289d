"""Property: the statically inferred shape of every layer equals torch's.

Specs are generated as text, so the whole pipeline (parse, elaborate, op
shape rules) is under test; torch layers are built by hand here, not from
cnndsl, so the oracle is independent (with F.pad in front for TensorFlow's
"same" and per-side padding, which torch.nn's layers cannot take). Where torch refuses a layer, cnndsl
must refuse it too, and the other way round.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import cnndsl

pairs = st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4)))


def _t(v):
    return v if isinstance(v, tuple) else (v, v)


def _text(v):
    if isinstance(v, str):
        return f'"{v}"'
    return str(v).replace(" ", "") if isinstance(v, tuple) else str(v)


def _explicit(padding, x, kernel, stride, dilation) -> tuple:
    """Padding for F.pad (left, right, top, bottom): TensorFlow's rule for "same"
    (out = ceil(n / s), the odd pixel after), sides as written, or None for an int."""
    if isinstance(padding, int):
        return None
    if padding == "same":
        pads = []
        for n, k, s, d in zip(x.shape[2:], _t(kernel), _t(stride), _t(dilation)):
            total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        padding = tuple(pads)
    (top, bottom), (left, right) = padding
    return left, right, top, bottom


# Padding as torch takes it (one int), TensorFlow's "same", or per side.
sides = st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)),
                  st.tuples(st.integers(0, 3), st.integers(0, 3)))


@st.composite
def conv_layer(draw):
    groups = draw(st.sampled_from([1, 1, 1, 2]))
    padding = draw(st.one_of(st.integers(0, 3), st.integers(0, 3), st.just("same"), sides))
    return ("conv", dict(channels=groups * draw(st.integers(1, 3)), kernel=draw(pairs),
                         stride=draw(pairs), padding=padding,
                         dilation=draw(st.integers(1, 3)), groups=groups,
                         bias=draw(st.booleans())))


@st.composite
def pool_layer(draw):
    kind = draw(st.sampled_from(["maxpool", "avgpool"]))
    k = draw(pairs)
    padding = draw(st.one_of(st.integers(0, 2), st.integers(0, 2), st.just("same"), sides))
    args = dict(kernel=k, stride=draw(st.one_of(st.none(), pairs)), padding=padding,
                ceil=isinstance(padding, int) and draw(st.booleans()))
    if kind == "maxpool":
        args["dilation"] = draw(st.integers(1, 2))
    return (kind, args)


layers = st.one_of(conv_layer(), pool_layer())


def spec_of(c, h, w, stack):
    lines = [f"network gen\ninput [{c}, {h}, {w}]"]
    for kind, a in stack:
        args = ", ".join(f"{k}={_text(v) if not isinstance(v, bool) else str(v).lower()}"
                         for k, v in a.items() if v is not None)
        lines.append(f"{kind}({args})")
    return "\n".join(lines)


def torch_layer(kind, a, x):
    """The torch layer, with F.pad in front where torch.nn cannot pad that way."""
    pads = _explicit(a["padding"], x, a["kernel"], a["stride"] or a["kernel"], a.get("dilation", 1))
    padding = a["padding"] if pads is None else 0
    if pads is not None and kind == "maxpool":
        x = F.pad(x, pads, value=float("-inf"))
    elif pads is not None:
        x = F.pad(x, pads)
    if kind == "conv":
        return nn.Conv2d(x.shape[1], a["channels"], _t(a["kernel"]), _t(a["stride"]),
                         padding, a["dilation"], a["groups"], a["bias"])(x)
    if pads is not None and kind in ("maxpool", "avgpool"):
        # cnndsl refuses what torch would refuse of the padding in its own layer
        (top, bottom), (left, right) = (pads[2:], pads[:2])
        if max(top, bottom) > _t(a["kernel"])[0] // 2 or max(left, right) > _t(a["kernel"])[1] // 2:
            if a["padding"] != "same":
                raise ValueError("pad should be at most half of kernel size")
    stride = _t(a["stride"]) if a["stride"] is not None else None
    if kind == "maxpool":
        return nn.MaxPool2d(_t(a["kernel"]), stride, padding, a["dilation"],
                            ceil_mode=a["ceil"])(x)
    return nn.AvgPool2d(_t(a["kernel"]), stride, padding, ceil_mode=a["ceil"])(x)


def torch_shapes(c, h, w, stack):
    """Each layer's output shape (without batch), or None where torch refuses."""
    x = torch.zeros(1, c, h, w)
    shapes = []
    for kind, a in stack:
        try:
            x = torch_layer(kind, a, x)
        except (RuntimeError, ValueError):
            return None
        if x.numel() == 0:
            return None
        shapes.append(tuple(x.shape[1:]))
    return shapes


def cnndsl_shapes(text):
    try:
        net = cnndsl.loads(text)
    except cnndsl.CnnError:
        return None
    return [net.graph.nodes[v]["shape"] for v in net.layers()]


@given(c=st.integers(1, 4), h=st.integers(1, 40), w=st.integers(1, 40),
       stack=st.lists(layers, min_size=1, max_size=5))
def test_stack_shapes_equal_torch(c, h, w, stack):
    text = spec_of(c, h, w, stack)
    with torch.no_grad():
        expected = torch_shapes(c, h, w, stack)
    assert cnndsl_shapes(text) == expected, text


@st.composite
def branch(draw):
    """A path that keeps the spatial size or not, as Inception paths may."""
    return draw(st.lists(layers, min_size=0, max_size=2))


@given(c=st.integers(1, 4), h=st.integers(3, 24), w=st.integers(3, 24),
       paths=st.lists(branch(), min_size=2, max_size=4))
def test_concat_shapes_equal_torch(c, h, w, paths):
    lines = [f"network gen\ninput [{c}, {h}, {w}]", "concat {"]
    for p in paths:
        lines.append("  path { " + " ".join(spec_of(0, 0, 0, p).split("\n")[2:]) + " }")
    lines.append("}")
    text = "\n".join(lines)
    with torch.no_grad():
        x = torch.zeros(1, c, h, w)
        outs = []
        for p in paths:
            shapes = torch_shapes(c, h, w, p)
            outs.append(None if shapes is None else (shapes[-1] if shapes else (c, h, w)))
        if None in outs or len({o[1:] for o in outs}) > 1:
            expected = None
        else:
            parts = [torch.zeros(1, *o) for o in outs]
            expected = tuple(torch.cat(parts, 1).shape[1:])
    got = cnndsl_shapes(text)
    assert (got[-1] if got is not None else None) == expected, text


@pytest.mark.parametrize("n,k,s,p,d,ceil", [
    (28, 5, 1, 2, 1, False), (224, 11, 4, 1, 1, False), (112, 3, 2, 0, 1, True),
    (14, 2, 2, 0, 1, True), (7, 3, 2, 1, 2, True), (5, 3, 2, 1, 1, True),
])
def test_window_formula_matches_the_seed_rule(n, k, s, p, d, ceil):
    # The seed's rule floor((n + p_total - k + s) / s), dilated extent for k,
    # checked against torch's own pooling arithmetic.
    from cnndsl.ops.base import window_out
    extent = d * (k - 1) + 1
    if not ceil:
        assert window_out(n, k, s, p, d) == (n + 2 * p - extent + s) // s
    pool = nn.MaxPool2d(k, s, p, d, ceil_mode=ceil)
    assert window_out(n, k, s, p, d, ceil) == pool(torch.zeros(1, 1, n, n)).shape[-1]
