"""Resampling against torch: `upsample` (F.interpolate), `crop` (slicing) and
`adaptive_maxpool` (nn.AdaptiveMaxPool2d); sizes taken from another tensor at
run time; the arguments that do not go together, refused with a diagnostic."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import cnndsl


def _spec(shape, body: str) -> str:
    return f"network t\ninput [{', '.join(map(str, shape))}]\n{body}\n"


def _run(net, x):
    with torch.no_grad():
        return net.to_module().double().eval()(x)


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       scale=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       mode=st.sampled_from(["nearest", "bilinear"]), align=st.sampled_from([None, False, True]))
def test_upsample_by_a_scale_equals_interpolate(c, h, w, scale, mode, align):
    if mode == "nearest" and align is not None:
        align = None
    option = "" if align is None else f", align_corners={'true' if align else 'false'}"
    net = cnndsl.loads(_spec((c, h, w), f'upsample(({scale[0]}, {scale[1]}), mode="{mode}"{option})'))
    x = torch.randn(2, c, h, w, dtype=torch.float64)
    expected = F.interpolate(x, scale_factor=tuple(map(float, scale)), mode=mode,
                             **({} if mode == "nearest" else {"align_corners": bool(align)}))
    assert net.output_shape == tuple(expected.shape[1:])
    assert torch.allclose(_run(net, x), expected)
    node = net.graph.nodes["upsample_1"]
    assert node["params"] == 0 and node["macs"] == 0
    assert node["flops"] == expected[0].numel() * (4 if mode == "bilinear" else 1)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(2, 12), w=st.integers(2, 12), k=st.integers(1, 3),
       mode=st.sampled_from(["nearest", "bilinear"]), align=st.booleans())
def test_upsample_to_a_tensor_reads_its_size_at_run_time(h, w, k, mode, align):
    option = f", align_corners={'true' if align else 'false'}" if mode == "bilinear" else ""
    text = _spec((2, h + k - 1, w + k - 1),
                 f"conv(2, k={k}, s=2) -> low\nupsample(mode=\"{mode}\"{option}, to=input)")
    net = cnndsl.loads(text)
    assert net.output_shape == net.input_shape
    model = net.to_module().double().eval()
    for size in ((h + k - 1, w + k - 1), (h + k + 4, w + k + 1)):  # another size: same code
        x = torch.randn(1, 2, *size, dtype=torch.float64)
        with torch.no_grad():
            out, low = model(x), model.conv_1(x)
        assert tuple(out.shape[2:]) == size
        expected = F.interpolate(low, size=size, mode=mode,
                                 **({"align_corners": align} if mode == "bilinear" else {}))
        assert torch.allclose(out, expected)


def test_fcn_head_and_aspp_pooling_branch():
    net = cnndsl.loads(_spec((3, 64, 48), 'conv(8, k=3, s=8, p=1) -> x\n'
                                          'concat { path { } path { global_avgpool conv(8, k=1) '
                                          'upsample(mode="bilinear", to=x) } }\n'
                                          'upsample(mode="bilinear", to=input)'))
    assert net.output_shape == (16, 64, 48)
    assert net.graph.nodes[net.graph.graph["output"]]["rf"] == "global"  # the pooled branch
    x = torch.randn(1, 3, 64, 48, dtype=torch.float64)
    assert _run(net, x).shape == (1, 16, 64, 48)


@settings(max_examples=60, deadline=None)
@given(n=st.tuples(st.integers(1, 9), st.integers(1, 9)),
       t=st.tuples(st.integers(1, 9), st.integers(1, 9)))
def test_crop_to_a_tensor_takes_the_centre_floor_first(n, t):
    text = _spec((2, *t), f"pad((({n[0]}, 0), ({n[1]}, 0))) crop(to=input)")
    x = torch.randn(1, 2, *t, dtype=torch.float64)
    padded = F.pad(x, (n[1], 0, n[0], 0))
    top, left = n[0] // 2, n[1] // 2  # floor((n - t) / 2): the odd row and column at the end
    net = cnndsl.loads(text)
    assert net.output_shape == (2, *t)
    assert torch.equal(_run(net, x), padded[:, :, top:top + t[0], left:left + t[1]])


@settings(max_examples=40, deadline=None)
@given(p=st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)),
                   st.tuples(st.integers(0, 3), st.integers(0, 3))))
def test_crop_by_fixed_amounts(p):
    (top, bottom), (left, right) = p
    text = _spec((2, 7, 8), f"crop((({top}, {bottom}), ({left}, {right})))")
    x = torch.randn(1, 2, 7, 8, dtype=torch.float64)
    net = cnndsl.loads(text)
    assert net.output_shape == (2, 7 - top - bottom, 8 - left - right)
    assert torch.equal(_run(net, x), x[:, :, top:7 - bottom, left:8 - right])


def test_crop_is_a_view_without_cost():
    net = cnndsl.loads(_spec((2, 8, 8), "conv(2, k=1) crop(1) relu"))
    node = net.graph.nodes["crop_1"]
    assert (node["params"], node["macs"], node["flops"]) == (0, 0, 0)
    assert node["op"].view and node["op"].saves(node["args"]) == ()


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), size=st.tuples(st.integers(1, 5), st.integers(1, 5)))
def test_adaptive_maxpool_equals_torch(h, w, size):
    net = cnndsl.loads(_spec((3, h, w), f"adaptive_max_pool(({size[0]}, {size[1]}))"))
    x = torch.randn(2, 3, h, w, dtype=torch.float64)
    assert net.output_shape == (3, *size)
    assert torch.equal(_run(net, x), F.adaptive_max_pool2d(x, size))
    assert net.graph.nodes[net.graph.graph["output"]]["rf"] == "global"


@pytest.mark.parametrize("body, code, words", [
    ("upsample()", "E0206", "exactly one of `scale` and `to`, got neither"),
    ("upsample(2, to=input)", "E0206", "exactly one of `scale` and `to`, got both"),
    ('upsample(2, align_corners=true)', "E0206", "only for mode=\"bilinear\""),
    ('upsample(0)', "E0206", "must be at least 1"),
    ('upsample(to=nowhere)', None, "nowhere"),
    ("flatten -> f\nlinear(4) upsample(to=f)", "E0305", "needs a CxHxW input"),
    ("conv(2, k=1) -> x\nflatten -> f\nfrom x upsample(to=f)", "E0305", "needs a CxHxW tensor"),
    ("crop()", "E0206", "exactly one of `padding` and `to`"),
    ("crop(2)", "E0309", "cannot remove 4 rows and 4 columns from a 3x3 map"),
    ("conv(2, k=1) -> x\npad(1) -> big\nfrom x crop(to=big)", "E0309", "cannot crop a 3x3 map to 5x5"),
])
def test_arguments_that_do_not_go_together(body, code, words):
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.loads(_spec((2, 3, 3), body))
    found = err.value.diagnostics[0]
    assert words in found.message, found.message
    if code is not None:
        assert found.code == code
    assert found.span.line >= 3


def test_labels_and_aliases():
    net = cnndsl.loads(_spec((2, 4, 4), 'interpolate(scale_factor=(2, 3), mode="bilinear") '
                                        'crop(to=input) adaptive_maxpool(output_size=2)'))
    labels = [net.graph.nodes[v]["op"].label(net.graph.nodes[v]["args"]) for v in net.layers()]
    assert labels == ["upsample x2x3 bilinear", "crop to size", "adaptive maxpool 2x2"]
