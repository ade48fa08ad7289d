"""Receptive fields, checked against their definition with torch gradients.

The field of an output unit is the set of input pixels that can change it
through the layers' windows; statistics of the whole feature map (a
squeeze-and-excitation gate that `mul` broadcasts over both spatial axes,
the mean and variance of group and instance norm) are left out, as
docs/language.md defines it. With positive weights, average pools in
place of max pools, identity activations and those statistics detached,
nothing cancels, so the input pixels with a non-zero gradient of one
output unit span exactly its field: the bounding box of that region must
start at ``j*S - P`` and have ``r`` pixels, per axis.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import cnndsl
from cnndsl.passes.receptive_field import WHOLE_INPUT, ReceptiveField

ROOT = Path(__file__).resolve().parent.parent
C = 2  # channels everywhere: small, and every path of an `add` agrees
# Pointwise over space, so identities for the field. LayerNorm2d normalises each pixel over
# its channels; with 2 channels its gradient is round-off, and torch 2.13's LayerNorm
# backward on the permuted view after an instance norm puts it at other pixels.
ACTIVATIONS = {"ReLU", "Sigmoid", "Tanh", "Softmax", "Dropout", "LayerNorm2d"}


@pytest.fixture(autouse=True)
def _at_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # spec paths below are relative to it


# ------------------------------------------------------------ torch oracle


class _WindowSum(torch.nn.Module):
    """A max pool as a sum over the same window (AvgPool2d has no dilation),
    with its padding `pads` (left, right, top, bottom)."""

    def __init__(self, args, out_shape, pads):
        super().__init__()
        self.a, self.out, self.pads = args, out_shape, pads

    def forward(self, x):
        a = self.a
        (kh, kw), (sh, sw), (dh, dw) = a["kernel"], a["stride"], a["dilation"]
        left, right, top, bottom = self.pads
        ext = [d * (k - 1) + 1 for k, d in ((kh, dh), (kw, dw))]
        # ceil mode keeps a last window that runs past the padding: pad further right
        extra = [max(0, (o - 1) * s + e - (n + before + after))
                 for o, s, e, n, before, after in zip(self.out[1:], (sh, sw), ext, x.shape[2:],
                                                      (top, left), (bottom, right))]
        x = F.pad(x, (left, right + extra[1], top, bottom + extra[0]))
        ones = torch.ones(x.shape[1], 1, kh, kw, dtype=x.dtype)
        return F.conv2d(x, ones, stride=(sh, sw), dilation=(dh, dw), groups=x.shape[1])


class _DetachedStats(torch.nn.Module):
    """Group or instance norm with its mean and variance detached: by the
    definition, statistics of the whole map are not part of the field."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        g = x.reshape(n, self.groups, -1)
        mean, std = g.mean(-1, keepdim=True).detach(), g.std(-1, keepdim=True).detach() + 1
        return ((g - mean) / std).reshape(n, c, h, w)


def _torch_class(ctor):
    if ctor.source:  # a class torch.nn lacks, defined by the op
        scope = {"torch": torch, "nn": torch.nn}
        exec(ctor.source, scope)  # noqa: S102 (the op's own class source)
        return scope[ctor.cls]
    return getattr(torch.nn, ctor.cls)


def _module(g, node):
    data = g.nodes[node]
    ins = [g.nodes[i]["shape"] for i in data["inputs"]]
    ctor = data["op"].torch(data["args"], ins, data["shape"])
    if ctor is None:
        return None
    if ctor.cls in ACTIVATIONS:
        return torch.nn.Identity()
    if ctor.cls == "GroupNorm":
        return _DetachedStats(ctor.args[0])
    if ctor.cls == "InstanceNorm2d":
        return _DetachedStats(ctor.args[0])
    if ctor.cls == "PaddedMaxPool2d":
        return _WindowSum(data["args"], data["shape"], ctor.kwargs["pad"])
    if ctor.cls == "MaxPool2d":
        if data["args"]["dilation"] != (1, 1):
            ph, pw = _two(ctor.kwargs.get("padding", 0))
            return _WindowSum(data["args"], data["shape"], (pw, pw, ph, ph))
        kwargs = {k: v for k, v in ctor.kwargs.items() if k != "dilation"}
        return torch.nn.AvgPool2d(*ctor.args, **kwargs)
    module = _torch_class(ctor)(*ctor.args, **ctor.kwargs)
    for name, p in module.named_parameters():
        with torch.no_grad():
            p.copy_(torch.rand_like(p) + 0.5 if name == "weight" else torch.zeros_like(p))
    return module


def _two(v):
    return v if isinstance(v, tuple) else (v, v)


def _gate(shape, out) -> bool:
    """An input `mul` broadcasts over both spatial axes (a squeeze-and-excitation gate)."""
    return len(shape) == 3 and shape[1:] == (1, 1) and out[1:] != (1, 1)


def forward(net, x, detach_gates=True):
    """Run the layer graph in torch, node by node, from the ops' constructors."""
    g = net.graph
    values = {"input": x}
    for node in net.layers():
        data = g.nodes[node]
        module = _module(g, node)
        if module is None:  # a merge or a functional op: its own forward expression
            names = [f"v{i}" for i in range(len(data["inputs"]))]
            ins = [values[i] for i in data["inputs"]]
            if detach_gates and data["op"].name == "mul":
                ins = [v.detach() if _gate(g.nodes[i]["shape"], data["shape"]) else v
                       for v, i in zip(ins, data["inputs"])]
            env = {"torch": torch, **dict(zip(names, ins))}
            values[node] = eval(data["op"].forward_source(data["args"], names), env)
        else:
            values[node] = module.double().eval()(values[data["inputs"][0]])
    return values[g.graph["output"]]


def gradient_box(net, unit):
    """Per axis, (first, last) input pixel whose gradient wrt output `unit` is non-zero."""
    _, h, w = net.input_shape
    x = torch.rand(1, C, h, w, dtype=torch.float64, requires_grad=True)
    out = forward(net, x)
    out[0, :, unit[0], unit[1]].sum().backward()
    touched = x.grad[0].abs().sum(0) > 0
    if not touched.any():
        return None  # the unit sees nothing (a transposed conv's kernel below its stride)
    box = []
    for axis in (1, 0):
        idx = touched.any(dim=axis).nonzero().flatten()
        box.append((int(idx[0]), int(idx[-1])))
    return box


# ------------------------------------------------------ spec generators


def _pair(draw, lo, hi):
    return (draw(st.integers(lo, hi)), draw(st.integers(lo, hi)))


def _txt(pair):
    return f"({pair[0]}, {pair[1]})"


def _sides_txt(top_bottom, left_right):
    return f"(({top_bottom[0]}, {top_bottom[1]}), ({left_right[0]}, {left_right[1]}))"


@st.composite
def window_layer(draw, strided=True):
    """A conv, pool or pad as spec text, with its per-axis extent, stride and the
    growth of a length at stride 1 (the padding before and after it, less extent - 1)."""
    kind = draw(st.sampled_from(["conv", "maxpool", "avgpool", "pad"]))
    if kind == "pad":
        pads = [(draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2)]
        mode = draw(st.sampled_from(["zeros", "reflect", "replicate"]))
        grow = tuple(a + b for a, b in pads)
        return f'pad({_sides_txt(*pads)}, mode="{mode}")', (1, 1), (1, 1), grow
    k = _pair(draw, 1, 4)
    s = _pair(draw, 1, 3) if strided else (1, 1)
    d = _pair(draw, 1, 3) if kind != "avgpool" else (1, 1)
    ext = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
    style = draw(st.sampled_from(["symmetric", "symmetric", "asymmetric", "same"]))
    limit = ext if kind == "conv" else tuple(ki // 2 for ki in k)
    if style == "same":
        p, written = None, '"same"'
    elif style == "asymmetric":
        p = [(draw(st.integers(0, lim)), draw(st.integers(0, lim))) for lim in limit]
        written = _sides_txt(*p)
    else:
        p = [(x, x) for x in (draw(st.integers(0, limit[0])), draw(st.integers(0, limit[1])))]
        written = _txt((p[0][0], p[1][0]))
    # `same` keeps the length at stride 1; explicit padding grows it by before + after - (ext - 1)
    grow = (0, 0) if p is None else tuple(b + a - e + 1 for (b, a), e in zip(p, ext))
    if kind == "conv":
        text = f"conv({C}, k={_txt(k)}, s={_txt(s)}, p={written}, d={_txt(d)})"
    else:
        ceil = style == "symmetric" and draw(st.booleans())
        text = (f"{kind}(k={_txt(k)}, s={_txt(s)}, p={written}"
                + (f", d={_txt(d)}" if kind == "maxpool" else "")
                + (", ceil=true" if ceil else "") + ")")
    return text, ext, s, grow


@st.composite
def pointwise_layer(draw):
    return draw(st.sampled_from(["relu", "bn", "sigmoid", "identity", "group_norm(2)",
                                 "instance_norm", "layer_norm2d", "scale(0.5)",
                                 "channel_shuffle(2)"]))


def _grow(g):
    """A conv that grows a length by g >= 0 (pads a 1- or 2-wide kernel)."""
    return (1, g // 2) if g % 2 == 0 else (2, (g + 1) // 2)


@st.composite
def merge(draw):
    """concat or add of 1-3 paths that line up by construction.

    Stride-1 layers change a length by 2p - extent + 1; each path then gets
    a conv growing it to the largest change (paths may end up centred
    differently, which is allowed). A downsampling merge ends every path in
    a stride-2 layer with 2p = extent - 1 (a 3x3/2 conv, a strided 1x1
    projection, a pool), so all halve alike.
    """
    kind = draw(st.sampled_from(["concat", "add", "mul"]))
    down = draw(st.booleans())
    paths = []
    for _ in range(draw(st.integers(1, 3))):
        layers, delta = [], [0, 0]
        for _ in range(draw(st.integers(0, 2))):
            if draw(st.booleans()):
                text, _, _, grow = draw(window_layer(strided=False))
                delta = [dl + gr for dl, gr in zip(delta, grow)]
                layers.append(text)
            else:
                layers.append(draw(pointwise_layer()))
        paths.append((layers, delta))
    target = [max(d[axis] for _, d in paths) for axis in (0, 1)]
    body = []
    for layers, delta in paths:
        grow = [_grow(t - d) for t, d in zip(target, delta)]
        if any(p for _, p in grow):
            layers.append(f"conv({C}, k=({grow[0][0]}, {grow[1][0]}), p=({grow[0][1]}, {grow[1][1]}))")
        if down:
            kh, kw = draw(st.sampled_from([1, 3])), draw(st.sampled_from([1, 3]))
            dh, dw = _pair(draw, 1, 2)
            eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
            final = draw(st.sampled_from(["conv", "maxpool", "avgpool"]))
            if final == "conv":
                layers.append(f"conv({C}, k=({kh}, {kw}), s=2, p=({(eh - 1) // 2}, {(ew - 1) // 2}),"
                              f" d=({dh}, {dw}))")
            else:
                layers.append(f"{final}(k=({kh}, {kw}), s=2, p=({kh // 2}, {kw // 2}))")
        body.append("path { " + " ".join(layers) + " }")
    if kind == "mul" and draw(st.booleans()):  # squeeze-and-excitation
        body.append(f"path {{ global_avgpool conv({C}, k=1) sigmoid }}")
    text = f"{kind} {{ {' '.join(body)} }}"
    if kind == "concat":
        text += f" conv({C}, k=1)"  # back to C channels for the next add
    return text


@st.composite
def spec(draw):
    items = draw(st.lists(st.one_of(window_layer().map(lambda t: t[0]), pointwise_layer(),
                                    merge()), min_size=1, max_size=6))
    return f"network gen\ninput [{C}, 64, 64]\n" + "\n".join(items) + "\n"


# ------------------------------------------------------------------ tests


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec())
def test_field_is_the_region_with_nonzero_gradient(text):
    try:
        net = cnndsl.loads(text, input_shape=(C, 1024, 1024))
    except cnndsl.CnnError:
        assume(False)  # a trunk that shrinks the input away: not this test's business
    rf = net.graph.nodes[net.graph.graph["output"]]["rf"]
    assume(all(s <= 16 for s in rf.stride) and all(r + p <= 150 for r, p in zip(rf.size, rf.padding)))
    size = tuple(2 * (r + p + 2 * s) + 8 for r, p, s in zip(rf.size, rf.padding, rf.stride))
    net = cnndsl.loads(text, input_shape=(C, *size))
    rf = net.graph.nodes[net.graph.graph["output"]]["rf"]  # `same` padding depends on the size
    _, oh, ow = net.output_shape
    unit = (oh // 2, ow // 2)
    for j in (unit, (unit[0] + 1, unit[1] + 1)):
        box = gradient_box(net, j)
        for axis in (0, 1):
            first, last = box[axis]
            assert 0 < first and last < size[axis] - 1, "field clipped by the border: enlarge"
            assert last - first + 1 == rf.size[axis], (text, axis, box, rf)
            assert first == j[axis] * rf.stride[axis] - rf.padding[axis], (text, axis, box, rf)


def _rf(net, node):
    return net.graph.nodes[node]["rf"]


def test_araujo_formula_on_a_chain():
    net = cnndsl.loads("network t\ninput [1, 64, 64]\n"
                       "conv(1, k=3, s=2, p=1) maxpool(k=2, s=2) conv(1, k=3, d=2, p=2)")
    # r: 3, 3 + 1*2 = 5, 5 + 4*4 = 21; S: 2, 4, 4; P: 1, 1, 1 + 2*4 = 9
    assert _rf(net, "conv_1") == ReceptiveField((3, 3), (2, 2), (1, 1))
    assert _rf(net, "maxpool_1") == ReceptiveField((5, 5), (4, 4), (1, 1))
    assert _rf(net, "conv_2") == ReceptiveField((21, 21), (4, 4), (9, 9))


def test_axes_are_separate():
    net = cnndsl.loads("network t\ninput [1, 32, 32]\nconv(1, k=(5, 1), s=(1, 2))")
    assert _rf(net, "conv_1") == ReceptiveField((5, 1), (1, 2), (0, 0))


def test_merge_takes_the_largest_aligned_path_and_does_not_warn():
    net = cnndsl.load("specs/googlenet.cnn")
    assert not [w for w in net.warnings if w.code == "W0301"]
    # b3's first inception: paths of 27 (1x1), 43 (3x3), 59 (5x5) at stride 8
    assert _rf(net, "b3.inception_1.concat_1") == ReceptiveField((59, 59), (8, 8), (29, 29))


MISALIGNED = ("network t\ninput [2, 32, 32]\n"
              "concat { path a { conv(2, k=1, s=2) } path b { conv(2, k=(1, 2), s=2) } }\n"
              "conv(2, k=3)\n")


def test_misaligned_paths_warn_and_name_both_paths():
    # Equal sizes at stride 1 imply equal centres (centre*2 = r - 1 - 2P = minus
    # the size change), so misalignment needs a stride: a 1x1/2 and a 2-wide/2
    # conv both halve an even width, centred on pixels 0 and 0.5.
    net = cnndsl.loads(MISALIGNED)
    warnings = [w for w in net.warnings if w.code == "W0301"]
    assert len(warnings) == 1 and warnings[0].severity == "warning"
    text = warnings[0].label + " ".join(warnings[0].notes)
    assert "`a`" in text and "`b`" in text and "width" in text and "centre 0.5" in text
    # the union of [0, 0] and [0, 1] in width, then a 3x3 at stride 2
    assert _rf(net, "concat_1") == ReceptiveField((1, 2), (2, 2), (0, 0))
    assert _rf(net, "conv_1") == ReceptiveField((5, 6), (2, 2), (0, 0))


# At stride 3 (sizes agree for n = 1 mod 3) the fields [-1, -1] and [0, 0]
# stick out on opposite sides: the union, [-1, 0], is larger than either.
STICKING_OUT = ("network t\ninput [2, 31, 31]\n"
                "concat { path a { conv(2, k=1, s=3, p=1) } path b { conv(2, k=1, s=3) } }\n"
                "conv(2, k=3)\n")


def test_union_of_paths_sticking_out_on_both_sides():
    net = cnndsl.loads(STICKING_OUT)
    assert _rf(net, "concat_1") == ReceptiveField((2, 2), (3, 3), (1, 1))
    assert [w.code for w in net.warnings] == ["W0301"]


@pytest.mark.parametrize("text", [MISALIGNED, STICKING_OUT])
def test_misaligned_union_is_the_region_with_nonzero_gradient(text):
    net = cnndsl.loads(text, input_shape=(C, 40, 40))  # 40: even and 1 mod 3
    rf = _rf(net, "conv_1")
    for j in ((5, 5), (6, 6)):
        box = gradient_box(net, j)
        for axis in (0, 1):
            start = j[axis] * rf.stride[axis] - rf.padding[axis]
            assert box[axis] == (start, start + rf.size[axis] - 1)


def test_a_merge_in_a_block_warns_once():
    net = cnndsl.loads("network t\ninput [2, 64, 64]\nblock b() { concat { path a { conv(2, k=1, s=2) } "
                       "path b { conv(2, k=(1, 2), s=2) } } }\nrepeat 3 { b() }")
    assert [w.code for w in net.warnings] == ["W0301"]


def test_paths_with_different_strides_warn():
    net = cnndsl.loads("network t\ninput [1, 32, 32]\n"
                       "add { path { conv(1, k=1, s=2) } path { conv(1, k=1, s=4, p=15) } }\n"
                       "add { path { conv(1, k=3, s=1, p=1) } path { maxpool(k=3, s=1, p=1, ceil=true) } }")
    assert [w.code for w in net.warnings] == ["W0301"]


def test_after_global_pool_flatten_or_linear_the_field_is_the_whole_input():
    net = cnndsl.load("specs/resnet18.cnn")
    for node in ("head.global_avgpool_1", "head.flatten_1", "head.linear_1"):
        assert _rf(net, node) == WHOLE_INPUT
    doc = net.to_json()
    layers = {layer["name"]: layer for layer in doc["layers"]}
    assert layers["head.linear_1"]["rf"] == "global" and doc["rf"] == "global"
    assert layers["stem.conv_1"]["rf"] == {"size": [7, 7], "stride": [2, 2], "padding": [3, 3]}


def test_torchvision_resnet50_last_block():
    # By hand: stem 7/2 then 3/2 pool: r 11, S 4, P 5. Each bottleneck's 3x3
    # adds 2*S (the stride sits on the 3x3, as in torchvision): layer1 3x8 -> 35;
    # layer2 8 + 3x16 -> 91 at S 8; layer3 16 + 5x32 -> 267 at S 16;
    # layer4 32 + 2x64 -> 427 at S 32. P = (r - 1) / 2 for these centred layers.
    net = cnndsl.load("specs/resnet50.cnn")
    assert _rf(net, "layer4.bottleneck_3.relu_1") == ReceptiveField((427, 427), (32, 32), (213, 213))


def test_unaligned_warning_names_paths_not_a_stage_before_the_merge():
    # The empty path's tensor comes from stage `s`: it is still "an empty path".
    net = cnndsl.loads("network t\ninput [1, 1, 1]\nstage s { conv(4, k=1) }\n"
                       "concat { path { conv(4, k=1, s=2) } path { } }\n")
    (w,) = [w for w in net.warnings if w.code == "W0301"]
    assert w.label == "`path_1` and an empty path see regions with different strides"


@pytest.mark.parametrize("n, before", [(224, 0), (225, 1)])
def test_same_padding_places_the_field_where_tensorflow_pads(n, before):
    # A 3x3/2 "same" conv: on 224 its one pixel of padding goes after the input
    # (unit 0 starts at pixel 0), on 225 one pixel on each side (it starts at -1).
    net = cnndsl.loads(f'network t\ninput [1, {n}, {n}]\nconv(1, k=3, s=2, p="same")')
    assert _rf(net, "conv_1") == ReceptiveField((3, 3), (2, 2), (before, before))


def test_padding_after_the_input_does_not_move_the_field():
    net = cnndsl.loads("network t\ninput [1, 32, 32]\npad(((2, 5), (0, 1))) conv(1, k=3)")
    assert _rf(net, "pad_1") == ReceptiveField((1, 1), (1, 1), (2, 0))
    assert _rf(net, "conv_1") == ReceptiveField((3, 3), (1, 1), (2, 0))


# ------------------------------------------- through the decoder: upsampling and crops


@st.composite
def decoder_layer(draw):
    """A layer of a decoder as spec text: conv, pool, nearest or bilinear upsampling
    (scales whose coordinates torch computes exactly), transposed conv, crop."""
    kind = draw(st.sampled_from(["conv", "avgpool", "nearest", "bilinear", "deconv", "deconv",
                                 "crop", "to_input"]))
    if kind == "conv":
        k, s, d = _pair(draw, 1, 3), _pair(draw, 1, 2), _pair(draw, 1, 2)
        p = tuple(draw(st.integers(0, ki // 2 * di)) for ki, di in zip(k, d))
        return f"conv({C}, k={_txt(k)}, s={_txt(s)}, p={_txt(p)}, d={_txt(d)})"
    if kind == "avgpool":
        return draw(st.sampled_from(["avgpool(2)", "avgpool(k=3, s=2, p=1)", "avgpool(k=(2, 3), s=(2, 1))"]))
    if kind == "nearest":
        return f"upsample({_txt(_pair(draw, 1, 3))})"
    if kind == "bilinear":
        scale = (draw(st.sampled_from([1, 2, 4])), draw(st.sampled_from([1, 2, 4])))
        return f'upsample({_txt(scale)}, mode="bilinear")'
    if kind == "deconv":
        k, s, d = _pair(draw, 1, 4), _pair(draw, 1, 3), _pair(draw, 1, 2)
        p = tuple(draw(st.integers(0, (ki - 1) * di)) for ki, di in zip(k, d))
        op = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
        return (f"conv_transpose({C}, k={_txt(k)}, s={_txt(s)}, p={_txt(p)}, op={_txt(op)}, "
                f"d={_txt(d)})")
    if kind == "crop":
        return f"crop({_sides_txt(_pair(draw, 0, 2), _pair(draw, 0, 2))})"
    # FCN's head: back to the input's size (a crop when larger, else bilinear upsampling)
    return draw(st.sampled_from(['upsample(mode="bilinear", to=input)', "upsample(to=input)"]))


def _check_units(net, units) -> int:
    """Each unit's gradient box is its span, away from the borders; how many were checked."""
    rf = net.graph.nodes[net.graph.graph["output"]]["rf"]
    _, h, w = net.input_shape
    checked = 0
    for unit in units:
        span = rf.span(unit)
        if any(first > last for first, last in span):
            assert gradient_box(net, unit) is None, (unit, span, rf)
        elif all(0 < first and last < n - 1 for (first, last), n in zip(span, (h, w))):
            assert [tuple(b) for b in gradient_box(net, unit)] == list(span), (unit, span, rf)
        else:
            continue  # at the border the field is taken in an image without end
        checked += 1
    return checked


def _middle_units(net, count=8):
    """Units around the middle of the output, one per phase of the field's period."""
    rf = net.graph.nodes[net.graph.graph["output"]]["rf"]
    _, oh, ow = net.output_shape
    steps = min(count, max(rf.period))
    return [((oh // 2 + t) % oh, (ow // 2 + t) % ow) for t in range(steps)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(decoder_layer(), min_size=1, max_size=4))
def test_decoder_field_is_the_region_with_nonzero_gradient(layers):
    text = f"network gen\ninput [{C}, 40, 40]\n" + "\n".join(layers) + "\n"
    try:
        net = cnndsl.loads(text)
    except cnndsl.CnnError:
        assume(False)  # shrunk away, cropped too much, upsampled to a smaller size
    _, oh, ow = net.output_shape
    assume(oh * ow <= 300 * 300)
    _check_units(net, _middle_units(net))


def _field(text, node):
    return cnndsl.loads(f"network t\ninput [{C}, 16, 16]\n{text}\n").graph.nodes[node]["rf"]


def test_nearest_sends_two_units_to_one_pixel():
    rf = _field("upsample(2)", "upsample_1")
    assert rf.stride == (Fraction(1, 2),) * 2 and rf.size == (1, 1) and rf.period == (2, 2)
    assert [rf.span((j, j))[0] for j in range(4)] == [(0, 0), (0, 0), (1, 1), (1, 1)]
    assert rf.to_json()["stride"] == ["1/2", "1/2"]


def test_pool_then_upsample_is_stride_one_again():
    rf = _field("avgpool(2) upsample(2)", "upsample_1")
    assert rf.stride == (1, 1) and rf.size == (2, 2) and rf != ReceptiveField((2, 2), (1, 1), (0, 0))
    assert [rf.span((j, j))[0] for j in range(4)] == [(0, 1), (0, 1), (2, 3), (2, 3)]
    assert rf.period == (2, 2)


def test_bilinear_reads_two_units_and_a_conv_after_it():
    # x2 bilinear: unit 2m sits at m - 1/4 (units m-1 and m), unit 2m+1 at m + 1/4
    rf = _field('upsample(2, mode="bilinear")', "upsample_1")
    assert [rf.span((j, j))[0] for j in range(4)] == [(-1, 0), (0, 1), (0, 1), (1, 2)]
    after = _field('upsample(2, mode="bilinear") conv(2, k=3, p=1)', "conv_1")
    assert [after.span((j, j))[0] for j in range(4)] == [(-1, 1), (-1, 1), (0, 2), (0, 2)]
    assert after.size == (3, 3)


def test_transposed_conv_reads_one_or_two_units_by_parity():
    rf = _field("conv_transpose(2, k=3, s=2, p=1)", "conv_transpose_1")
    assert [rf.span((j, j))[0] for j in range(4)] == [(0, 0), (0, 1), (1, 1), (1, 2)]
    assert rf.size == (2, 2) and rf.stride == (Fraction(1, 2),) * 2
    # a kernel below the stride leaves every other unit with nothing but its bias
    gaps = _field("conv_transpose(2, k=1, s=2)", "conv_transpose_1")
    first, last = gaps.span((1, 1))[0]
    assert first > last and gaps.span((2, 2))[0] == (1, 1)


def test_align_corners_and_upsampling_to_a_size():
    # 5 -> 12 units with align_corners: unit j at j*4/11, a period of 11 units
    text = 'conv(2, k=8) upsample(mode="bilinear", align_corners=true, to=input)'
    net = cnndsl.loads(f"network t\ninput [{C}, 12, 12]\n{text}\n")
    assert net.output_shape == (C, 12, 12)
    assert net.graph.nodes["upsample_1"]["rf"].period == (11, 11)
    assert _check_units(net, [(j, j) for j in range(12)]) >= 4
    # 5 -> 9: unit j at j/2, on a unit for even j (one read), between two for odd j
    net = cnndsl.loads(f"network t\ninput [{C}, 9, 9]\nconv(2, k=5)\n"
                       f'upsample(mode="bilinear", align_corners=true, to=input)\n')
    rf = net.graph.nodes["upsample_1"]["rf"]
    assert [rf.span((j, j))[0] for j in range(4)] == [(0, 4), (0, 5), (1, 5), (1, 6)]
    assert _check_units(net, [(j, j) for j in range(9)]) >= 4


def test_crop_to_a_tensor_takes_the_centre():
    net = cnndsl.loads(f"network t\ninput [{C}, 20, 20]\nconv(2, k=3) -> small\n"
                       f"upsample(2) crop(to=small)\n")  # 36 -> 18: 9 off the top
    rf = net.graph.nodes["crop_1"]["rf"]
    assert rf.span((0, 0))[0] == (4, 6)  # unit 9 of the 36: pixel 4 of the 18, then 3x3
    assert _check_units(net, _middle_units(net)) == 2  # nearest x2: a period of 2


UNET = """network unet_like
input [{c}, {n}, {n}]
conv({c}, k=3) conv({c}, k=3) -> s1
maxpool(k=2, s=2) conv({c}, k=3) conv({c}, k=3) -> s2
maxpool(k=2, s=2) conv({c}, k=3) conv({c}, k=3)
conv_transpose({c}, k=2, s=2) -> u2
concat {{ path {{ from s2 crop(to=u2) }} path {{ }} }}
conv({c}, k=3) conv({c}, k=3)
conv_transpose({c}, k=2, s=2) -> u1
concat {{ path {{ from s1 crop(to=u1) }} path {{ }} }}
conv({c}, k=3) conv({c}, k=3) conv({c}, k=1)
"""


def test_unet_skips_are_aligned_on_average_and_exact_by_gradient():
    """The up path's units see blocks of the bottom's field (units 4m to 4m + 3 alike);
    the cropped skip's are centred one pixel apart: equal centres on average over a
    period, so the concat does not warn; a crop off centre does."""
    net = cnndsl.loads(UNET.format(c=C, n=60))
    assert not [w for w in net.warnings if w.code == "W0301"]
    assert net.graph.nodes[net.graph.graph["output"]]["rf"].stride == (1, 1)
    assert _check_units(net, _middle_units(net)) == 4  # the up path's period
    shifted = UNET.format(c=C, n=60).replace("from s1 crop(to=u1)", "from s1 crop(((8, 24), (8, 24)))")
    assert [w.code for w in cnndsl.loads(shifted).warnings] == ["W0301"]


def test_upsampled_skip_that_is_off_centre_warns():
    aligned = cnndsl.loads(f"network t\ninput [{C}, 16, 16]\n"
                           f"concat {{ path {{ avgpool(2) upsample(2) }} "
                           f"path {{ conv(2, k=2, s=2) upsample(2) }} }}\n")
    assert not aligned.warnings
    net = cnndsl.loads(f"network t\ninput [{C}, 16, 16]\n"
                       f"add {{ path a {{ avgpool(2) upsample(2) }} "
                       f"path b {{ avgpool(k=2, s=2, p=1) crop(((1, 0), (1, 0))) upsample(2) }} }}\n")
    (w,) = [w for w in net.warnings if w.code == "W0301"]
    text = w.label + " ".join(w.notes)
    assert "`a`" in text and "`b`" in text and "centres" in text and "on average" in text


def test_table_and_json_show_fractional_strides():
    net = cnndsl.loads(f"network t\ninput [{C}, 16, 16]\nconv(2, k=3, p=1) upsample(2)\n"
                       f"conv(2, k=(3, 1), p=(1, 0))\n")
    rows = {line.split()[0]: line for line in net.summary().splitlines() if line.strip()}
    assert "3/(1/2)" in rows["upsample_1"].split()
    assert "4x3/(1/2)x(1/2)" in rows["conv_2"].split()  # 3 units of the nearest x2 in height
    doc = {layer["name"]: layer["rf"] for layer in net.to_json()["layers"]}
    assert doc["conv_1"] == {"size": [3, 3], "stride": [1, 1], "padding": [1, 1]}
    assert doc["upsample_1"] == {"size": [3, 3], "stride": ["1/2", "1/2"], "padding": [1, 1],
                                 "period": [2, 2], "units": [[[-1, 1], [-1, 1]]] * 2}
    assert doc["conv_2"]["units"][0] == [[-2, 1], [-1, 2]]
