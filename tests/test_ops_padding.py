"""Padding: the `pad` layer, and TensorFlow's `same` and asymmetric padding of
convolutions and pools, each against torch.

TensorFlow's "SAME" (tf.nn.convolution's documentation): the output length
is ceil(n / s); the padding is max((out - 1) * s + (k - 1) * d + 1 - n, 0),
half before the input and the odd pixel after it. Max pools ignore the
padding, average pools leave it out of the mean. The oracles below build
that from torch.nn.functional; for stride 1, torch's own
``padding="same"`` is a second, independent oracle.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import cnndsl

small = st.integers(0, 3)
paddings = st.one_of(
    small, st.tuples(small, small),
    st.tuples(st.tuples(small, small), st.tuples(small, small)))


def _sides(p):
    """Any padding form -> (left, right, top, bottom), F.pad's order."""
    h, w = p if isinstance(p, tuple) else (p, p)
    (t, b), (left, r) = (x if isinstance(x, tuple) else (x, x) for x in (h, w))
    return left, r, t, b


def _text(p) -> str:
    return str(p).replace(" ", "")


def _spec(shape, body: str) -> str:
    return f"network t\ninput [{', '.join(map(str, shape))}]\n{body}\n"


def tf_same(n: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


# ------------------------------------------------------------ the pad layer


@settings(max_examples=80)
@given(c=st.integers(1, 3), h=st.integers(1, 5), w=st.integers(1, 5), p=paddings,
       mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
def test_pad_layer_equals_torch(c, h, w, p, mode):
    x = torch.randn(2, c, h, w, dtype=torch.float64)
    try:
        expected = F.pad(x, _sides(p), mode="constant" if mode == "zeros" else mode)
    except (RuntimeError, ValueError, NotImplementedError):
        expected = None
    try:
        net = cnndsl.loads(_spec((c, h, w), f'pad({_text(p)}, mode="{mode}")'))
    except cnndsl.CnnError as err:
        assert expected is None, err
        assert err.diagnostics[0].code == "E0309"
        return
    assert expected is not None, "torch refuses this padding, cnndsl did not"
    assert net.output_shape == tuple(expected.shape[1:])
    model = net.to_module()
    assert net.params == sum(q.numel() for q in model.parameters()) == 0
    assert torch.equal(model(x), expected)


def test_pad_layer_is_the_torch_nn_class_with_its_argument_order():
    net = cnndsl.loads(_spec((1, 8, 8), 'pad(((1, 2), (3, 4)), "reflect") pad(1)'))
    layers = list(net.to_module().children())
    assert [type(m).__name__ for m in layers] == ["ReflectionPad2d", "ZeroPad2d"]
    assert layers[0].padding == (3, 4, 1, 2) and layers[1].padding == (1, 1, 1, 1)


def test_reflection_larger_than_the_input_is_a_diagnostic():
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(_spec((1, 3, 8), 'pad(3, mode="reflect")'))
    (d,) = err.value.diagnostics
    assert d.code == "E0309"
    assert d.message == "reflect padding 3 needs an input height of at least 4, got 3"


def test_pad_takes_no_same():
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(_spec((1, 3, 8), 'pad("same")'))
    assert err.value.diagnostics[0].code == "E0206"


# ---------------------------------------------- convolutions: same, asymmetric


@st.composite
def conv_case(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = draw(st.one_of(st.just("same"), paddings))
    return k, s, d, p


def _conv_oracle(x, weight, bias, k, s, d, p):
    if p == "same":
        (t, b), (left, r) = (tf_same(n, kk, ss, dd) for n, kk, ss, dd in zip(x.shape[2:], k, s, d))
        pads = (left, r, t, b)
    else:
        pads = _sides(p)
    return F.conv2d(F.pad(x, pads), weight, bias, stride=s, dilation=d)


@settings(max_examples=80)
@given(case=conv_case(), h=st.integers(1, 9), w=st.integers(1, 9), bias=st.booleans())
def test_conv_padding_equals_tensorflow(case, h, w, bias):
    k, s, d, p = case
    text = _spec((2, h, w), f'conv(3, k={_text(k)}, s={_text(s)}, d={_text(d)}, '
                            f'p={_text(p) if p != "same" else chr(34) + "same" + chr(34)}, '
                            f'bias={str(bias).lower()})')
    x = torch.randn(2, 2, h, w, dtype=torch.float64)
    weight = torch.randn(3, 2, *k, dtype=torch.float64)
    b = torch.randn(3, dtype=torch.float64) if bias else None
    try:
        expected = _conv_oracle(x, weight, b, k, s, d, p)
    except RuntimeError:
        expected = None
    try:
        net = cnndsl.loads(text)
    except cnndsl.CnnError as err:
        assert expected is None, err
        return
    assert expected is not None
    assert net.output_shape == tuple(expected.shape[1:])
    if p == "same":
        assert net.output_shape[1:] == (-(-h // s[0]), -(-w // s[1]))
    model = net.to_module().double()
    assert net.params == sum(q.numel() for q in model.parameters())
    state = dict(zip(model.state_dict(), (weight, b) if bias else (weight,)))
    model.load_state_dict(state)  # keys weight and bias, as nn.Conv2d's, however padded
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-10)


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@settings(max_examples=40)
@given(k=st.tuples(st.integers(1, 5), st.integers(1, 5)), d=st.integers(1, 2),
       h=st.integers(1, 9), w=st.integers(1, 9))
def test_stride_one_same_equals_torch_padding_same(k, d, h, w):
    reference = nn.Conv2d(2, 3, k, padding="same", dilation=d).double()
    net = cnndsl.loads(_spec((2, h, w), f'conv(3, k={_text(k)}, d={d}, p="same")'))
    model = net.to_module().double()
    model.load_state_dict(dict(zip(model.state_dict(), reference.state_dict().values())))
    x = torch.randn(2, 2, h, w, dtype=torch.float64)
    torch.testing.assert_close(model(x), reference(x), rtol=0, atol=1e-10)


def test_symmetric_padding_builds_a_plain_conv2d_and_asymmetric_a_padded_one():
    net = cnndsl.loads(_spec((3, 224, 224), 'conv(8, k=3, p="same") conv(8, k=3, s=2, p="same")'))
    first, second = (m for m in net.to_module().modules() if isinstance(m, nn.Conv2d))
    assert type(first) is nn.Conv2d and first.padding == (1, 1)
    # 224 at stride 2: out 112, padding (111 * 2 + 3 - 224) = 1, all of it after
    assert type(second).__name__ == "PaddedConv2d" and second.pad == [0, 1, 0, 1]
    assert second.padding == (0, 0)


# ----------------------------------------------------- pools: same, asymmetric


def _tf_pool(x, kind, k, s, pads, count_pad):
    """Pools from their definition: each window over the input pixels it covers,
    padding ignored by max, left out of the mean unless counted as zeros."""
    left, _, top, _ = pads
    n, c, h, w = x.shape
    padded = F.pad(x, pads)
    oh = (padded.shape[2] - k[0]) // s[0] + 1
    ow = (padded.shape[3] - k[1]) // s[1] + 1
    out = torch.empty(n, c, oh, ow, dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * s[0] - top, j * s[1] - left
            window = x[:, :, max(r0, 0):max(r0 + k[0], 0), max(c0, 0):max(c0 + k[1], 0)]
            if window.numel() == 0:
                return None  # a window of padding only: neither torch's nor TensorFlow's
            if kind == "maxpool":
                out[:, :, i, j] = window.amax((2, 3))
            else:
                out[:, :, i, j] = window.sum((2, 3)) / (k[0] * k[1] if count_pad else
                                                        window[0, 0].numel())
    return out


@settings(max_examples=80)
@given(kind=st.sampled_from(["maxpool", "avgpool"]),
       k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)), h=st.integers(1, 9),
       w=st.integers(1, 9), same=st.booleans(), data=st.data())
def test_pool_padding_equals_tensorflow(kind, k, s, h, w, same, data):
    # TensorFlow's "SAME" leaves padding out of an average; explicit padding counts
    # as zeros, as torch's (and Keras' ZeroPadding2D before a pool) does
    if same:
        (t, b), (left, r) = (tf_same(n, kk, ss) for n, kk, ss in zip((h, w), k, s))
        written = '"same"'
    else:
        t, b = (data.draw(st.integers(0, k[0] // 2)) for _ in range(2))
        left, r = (data.draw(st.integers(0, k[1] // 2)) for _ in range(2))
        written = _text(((t, b), (left, r)))
    assume(t + b + h >= k[0] and left + r + w >= k[1])
    x = torch.randn(2, 2, h, w, dtype=torch.float64)
    expected = _tf_pool(x, kind, k, s, (left, r, t, b), count_pad=not same)
    assume(expected is not None)
    net = cnndsl.loads(_spec((2, h, w), f"{kind}(k={_text(k)}, s={_text(s)}, p={written})"))
    assert net.output_shape == tuple(expected.shape[1:])
    torch.testing.assert_close(net.to_module()(x), expected, rtol=0, atol=1e-12)


@settings(max_examples=30)
@given(k=st.tuples(st.integers(2, 4), st.integers(2, 4)), h=st.integers(2, 9),
       w=st.integers(2, 9), count_pad=st.booleans(), data=st.data())
def test_avgpool_count_pad_with_asymmetric_padding(k, h, w, count_pad, data):
    t, b = (data.draw(st.integers(0, k[0] // 2)) for _ in range(2))
    left, r = (data.draw(st.integers(0, k[1] // 2)) for _ in range(2))
    assume(t + b + h >= k[0] and left + r + w >= k[1])
    x = torch.randn(2, 2, h, w, dtype=torch.float64)
    expected = _tf_pool(x, "avgpool", k, (1, 1), (left, r, t, b), count_pad)
    assume(expected is not None)
    net = cnndsl.loads(_spec((2, h, w), f"avgpool(k={_text(k)}, s=1, "
                                        f"p={_text(((t, b), (left, r)))}, "
                                        f"count_pad={str(count_pad).lower()})"))
    torch.testing.assert_close(net.to_module()(x), expected, rtol=0, atol=1e-12)


def test_avgpool_count_pad_overrides_the_tensorflow_default():
    net = cnndsl.loads(_spec((1, 4, 4), 'avgpool(k=3, s=2, p="same", count_pad=true)'))
    x = torch.ones(1, 1, 4, 4)
    # out 2, padding 1 after the input: the last window is 2x2 pixels of 9 counted
    assert net.to_module()(x)[0, 0, 1, 1].item() == pytest.approx(4 / 9)
    tf = cnndsl.loads(_spec((1, 4, 4), 'avgpool(k=3, s=2, p="same")'))
    assert tf.to_module()(x)[0, 0, 1, 1].item() == 1.0


@pytest.mark.parametrize("layer, message", [
    ('maxpool(k=3, s=2, p="same", ceil=true)', '`ceil=true` with `padding="same"`'),
    ("maxpool(k=3, s=2, p=((0, 1), (0, 1)), ceil=true)",
     "`ceil=true` with padding that differs before and after the input"),
    ("avgpool(k=2, p=((0, 2), (0, 0)))", "padding 2 is more than half the kernel 2"),
    ('conv(4, k=3, p="valid")', 'argument `padding` of `conv`: expected an integer, (h, w), '
                                '((top, bottom), (left, right)) or "same", got "valid"'),
    ("conv(4, k=3, p=(1, 2, 3))", "argument `padding` of `conv`: expected an integer, (h, w), "
                                  '((top, bottom), (left, right)) or "same", got a tuple of 3'),
])
def test_padding_arguments_are_checked(layer, message):
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(_spec((1, 8, 8), layer))
    (d,) = err.value.diagnostics
    assert (d.code, d.message) == ("E0206", message)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_padded_modules_script_and_keep_their_outputs():
    net = cnndsl.loads(_spec((2, 9, 8), 'conv(4, k=3, s=2, p="same") maxpool(k=3, s=2, p="same") '
                                        'avgpool(k=2, s=2, p="same") layer_norm2d'))
    model = net.to_module().eval()
    x = torch.randn(1, 2, 9, 8)
    torch.testing.assert_close(torch.jit.script(model)(x), model(x))


@settings(max_examples=80)
@given(kind=st.sampled_from(["maxpool", "avgpool"]), k=st.integers(1, 4), s=st.integers(1, 4),
       n=st.integers(4, 20), same=st.booleans(), data=st.data())
def test_pool_warns_when_windows_stop_short_of_real_pixels(kind, k, s, n, same, data):
    # W0302 (the lint pass), checked by walking the windows: the last input row any
    # window reads, with the padding before the input where TensorFlow or the spec puts it
    if same:
        top, bottom = tf_same(n, k, s)
        written = '"same"'
    else:
        top, bottom = (data.draw(st.integers(0, k // 2)) for _ in range(2))
        written = _text(((top, bottom), (0, 0)))
    assume(n + top + bottom >= k)
    out = (n + top + bottom - k) // s + 1
    unread = max(0, n - 1 - ((out - 1) * s - top + k - 1))
    net = cnndsl.loads(_spec((1, n, k), f"{kind}(k=({k}, {k}), s=({s}, 1), p={written})"))
    warned = [w.message for w in net.warnings if w.code == "W0302"]
    # a stride longer than the kernel skips the rows between windows, whatever n;
    # an unread tail no longer than that gap is the same pattern going on
    gap = s - k if k < s and n > 1 else 0
    unread = 0 if gap and unread <= gap else unread
    parts = [f"skips {gap} of every {s} rows"] if gap else []
    if unread:
        parts.append("discards " + ("the last row" if unread == 1 else f"the last {unread} rows"))
    if not parts:
        assert not warned
    else:
        assert warned == [f"`{kind}` {' and '.join(parts)} of its {n}x{k} input"]


@settings(max_examples=80)
@given(case=conv_case(), n=st.integers(1, 30))
def test_window_length_rules_for_symbolic_sizes(case, n):
    # What cnndsl.symbolic asks of a window, at every input length: the output
    # length, and the total padding of floor((n + total - k) / s) + 1.
    k, s, d, p = case
    written = '"same"' if p == "same" else _text(p)
    try:
        net = cnndsl.loads(_spec((1, n, n), f"conv(1, k={_text(k)}, s={_text(s)}, d={_text(d)}, "
                                            f"p={written})"))
    except cnndsl.CnnError:
        return
    data = net.graph.nodes["conv_1"]
    window = data["op"].window(data["args"])
    for axis in (0, 1):
        length = data["shape"][1 + axis]
        assert window.out(axis, n) == length
        ext, stride = window.k[axis], window.s[axis]
        assert (n + window.total_padding(axis) - ext) // stride + 1 == length
