"""specs/unet.cnn: U-Net as Ronneberger, Fischer & Brox (2015) draw it, and its padded variant.

The numbers are the paper's (Fig. 1: a 1x572x572 tile, a 2x388x388 map,
crops of 568 to 392, 280 to 200, 136 to 104 and 64 to 56); the parameter
count follows from its layers (3x3 convs and 2x2 up-convs with bias).
The compiled module is compared, number for number, with U-Nets written
here in plain torch from the paper's description and from the structure of
the common padded PyTorch implementation (milesial/Pytorch-UNet:
DoubleConv = (conv 3x3 pad 1 no bias, batch norm, ReLU) x 2; Up pads the
up-sampled map to the skip's size), at a small width so that two cores run
them in a moment.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import cnndsl
from cnndsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "unet.cnn"
PAPER_PARAMS = 31_030_658  # 1 input channel, 2 classes, 64 channels at the top level


def _crops(graph):
    """(input size, output size) of each crop, in spec order."""
    return [(graph.nodes[d["inputs"][0]]["shape"][1], d["shape"][1])
            for v, d in graph.nodes(data=True) if d["op"].name == "crop"]


# ------------------------------------------------------------------ static: no torch


def test_the_paper_network_shapes_and_parameters():
    g = cnndsl.load(SPEC).graph
    assert g.graph["input"] == (1, 572, 572)
    assert g.nodes[g.graph["output"]]["shape"] == (2, 388, 388)
    assert g.graph["params"] == PAPER_PARAMS
    assert _crops(g) == [(64, 56), (136, 104), (280, 200), (568, 392)]
    # the bottom of the U: 1024 channels at 28x28 before the first up-conv
    up = next(d for _, d in g.nodes(data=True) if d["op"].name == "conv_transpose")
    assert g.nodes[up["inputs"][0]]["shape"] == (1024, 28, 28)


def test_the_padded_variant_keeps_the_size_and_needs_no_crop():
    g = cnndsl.load(SPEC, padded=True).graph
    assert g.nodes[g.graph["output"]]["shape"] == (2, 572, 572)
    assert _crops(g) == []
    # 572 halves to 286, 143, 71, 35: on the way up 70 is padded to 71, 142 to 143
    pads = [d for _, d in g.nodes(data=True) if d["op"].name == "pad"]
    assert [p["shape"][1:] for p in pads] == [(71, 71), (143, 143)]
    assert {d["op"].name for _, d in g.nodes(data=True)} >= {"batchnorm", "conv_transpose"}


def test_the_bilinear_variant_up_samples_without_weights():
    size = (1, 100, 100)  # parameters do not depend on it
    g = cnndsl.load(SPEC, padded=True, bilinear=True, input_shape=size).graph
    names = {d["op"].name for _, d in g.nodes(data=True)}
    assert "upsample" in names and "conv_transpose" not in names
    assert g.nodes[g.graph["output"]]["shape"] == (2, 100, 100)
    padded = cnndsl.load(SPEC, padded=True, input_shape=size).graph
    assert g.graph["params"] < padded.graph["params"]


def _min_input(capsys, *args):
    assert main(["check", str(SPEC), "--min-input", *args]) == 0
    out = capsys.readouterr().out
    m = re.search(r"minimum input 1x(\d+)x(\d+): H >= (\d+), H = (\d+) mod (\d+); "
                  r"W >= (\d+), W = (\d+) mod (\d+)", out)
    assert m, out
    return [int(x) for x in m.groups()]


def test_min_input_says_572_is_valid_and_571_is_not(capsys):
    _, _, low, rest, mod, wlow, wrest, wmod = _min_input(capsys)
    assert (low, rest, mod) == (wlow, wrest, wmod)

    def valid(n):
        return n >= low and n % mod == rest

    assert valid(572) and not valid(571)
    assert mod == 16  # four 2x2 pools, each on an even size
    # Through the CLI at those sizes: 571 makes a pool drop a row, 572 none.
    assert main(["check", str(SPEC), "--input", "1x572x572"]) == 0
    assert "W0302" not in capsys.readouterr().err
    assert main(["check", str(SPEC), "--input", "1x571x571"]) == 0
    assert "W0302" in capsys.readouterr().err


def test_the_smallest_valid_input_builds_and_one_step_smaller_does_not(capsys):
    low = _min_input(capsys)[2]
    g = cnndsl.load(SPEC, input_shape=(1, low, low)).graph
    assert g.nodes[g.graph["output"]]["shape"][0] == 2
    below = low - 16
    with pytest.raises(cnndsl.CnnError):
        cnndsl.load(SPEC, input_shape=(1, below, below))


# ------------------------------------------------------------------ torch


def _torch():
    return pytest.importorskip("torch")


def _references():
    """U-Nets in plain torch, written from the paper and milesial/Pytorch-UNet's structure."""
    torch = _torch()
    from torch import nn
    from torch.nn import functional as F

    def double_conv(cin, cout, mid, padded):
        if padded:
            return nn.Sequential(nn.Conv2d(cin, mid, 3, padding=1, bias=False),
                                 nn.BatchNorm2d(mid), nn.ReLU(),
                                 nn.Conv2d(mid, cout, 3, padding=1, bias=False),
                                 nn.BatchNorm2d(cout), nn.ReLU())
        return nn.Sequential(nn.Conv2d(cin, mid, 3), nn.ReLU(), nn.Conv2d(mid, cout, 3), nn.ReLU())

    class Up(nn.Module):
        def __init__(self, cin, cout, padded, bilinear):
            super().__init__()
            self.padded = padded
            if bilinear:
                self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            else:
                self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
            self.conv = double_conv(cin, cout, cin // 2 if bilinear else cout, padded)

        def forward(self, x, skip):
            x = self.up(x)
            dh, dw = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
            if self.padded:  # milesial: pad the up-sampled map to the skip's size
                x = F.pad(x, [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2])
            else:  # the paper: crop the skip's centre to the up-sampled size
                skip = skip[:, :, dh // 2: dh // 2 + x.shape[2], dw // 2: dw // 2 + x.shape[3]]
            return self.conv(torch.cat([skip, x], dim=1))

    class UNet(nn.Module):
        def __init__(self, width, padded=False, bilinear=False, in_channels=1, classes=2):
            super().__init__()
            f = 2 if bilinear else 1
            w = [width, width * 2, width * 4, width * 8, width * 16]
            self.inc = double_conv(in_channels, w[0], w[0], padded)
            self.downs = nn.ModuleList(
                nn.Sequential(nn.MaxPool2d(2), double_conv(w[i - 1], c, c, padded))
                for i, c in enumerate([w[1], w[2], w[3], w[4] // f], 1))
            self.ups = nn.ModuleList([Up(w[4], w[3] // f, padded, bilinear),
                                      Up(w[3], w[2] // f, padded, bilinear),
                                      Up(w[2], w[1] // f, padded, bilinear),
                                      Up(w[1], w[0], padded, bilinear)])
            self.out = nn.Conv2d(w[0], classes, 1)

        def forward(self, x):
            skips = [self.inc(x)]
            for down in self.downs:
                skips.append(down(skips[-1]))
            x = skips.pop()
            for up in self.ups:
                x = up(x, skips.pop())
            return self.out(x)

    return UNet


def test_the_compiled_paper_network_has_the_papers_parameters():
    _torch()
    module = cnndsl.load(SPEC).to_module()
    assert sum(p.numel() for p in module.parameters()) == PAPER_PARAMS
    assert sum(p.numel() for p in _references()(64).parameters()) == PAPER_PARAMS


@pytest.mark.parametrize("settings, size", [
    ({}, 188),  # the smallest valid input of the paper's network
    ({}, 204),
    ({"padded": True}, 100),  # 100 -> 50 -> 25 -> 12 -> 6: pads 12 -> 13... on the way up
    ({"padded": True, "bilinear": True}, 100),
])
def test_the_compiled_module_equals_a_hand_written_unet(settings, size):
    torch = _torch()
    torch.manual_seed(0)
    reference = _references()(4, **settings).double().eval()
    net = cnndsl.load(SPEC, input_shape=(1, size, size), width=4, **settings)
    compiled = net.to_module().double().eval()
    cnndsl.transfer_weights(reference, compiled)
    x = torch.randn(2, 1, size, size, dtype=torch.float64)
    with torch.no_grad():
        want, got = reference(x), compiled(x)
    assert tuple(got.shape) == (2, *net.graph.nodes[net.graph.graph["output"]]["shape"])
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
