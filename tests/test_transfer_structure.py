"""transfer_weights pairs by structure and shape when state_dict order differs (issue 9).

Users should not need to know another library's registration order: a
module that registers its branches in another order than it concatenates
them, or holds a layer scale somewhere else than the spec's module does,
still loads, and the outputs are the source's. What cannot be told apart
is refused with both candidates named, and a refusal copies nothing.
"""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import cnndsl
from cnndsl.pairing import pair_by_structure
from cnndsl.transfer import TransferError

TOL = dict(rtol=0, atol=1e-10)


def _randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter and batch-norm statistic new, so a wrong pairing shows in the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict(keep_vars=True).items():
            if t.is_floating_point():
                values = torch.rand(t.shape, generator=g, dtype=torch.float64)
                t.copy_(values + 0.5 if name.endswith("running_var") else values - 0.5)
    return module.double().eval()


def _unchanged(dst: nn.Module, src, **options) -> TransferError:
    """transfer_weights must refuse and leave every entry of ``dst`` as it was."""
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    with pytest.raises(TransferError) as err:
        cnndsl.transfer_weights(src, dst, **options)
    for k, v in dst.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} was changed by a refused transfer"
    return err.value


def _same_outputs(src: nn.Module, dst: nn.Module, shape) -> None:
    x = torch.randn(2, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(dst(x), src(x), **TOL)


# ----------------------------------------------------- branches in another order

INCEPTION = """network t
input [3, 8, 8]
conv(8, k=3, p=1)
concat {
    path b1 { conv(4, k=1) bn relu }
    path b3 { conv(6, k=1) bn relu conv(6, k=3, p=1) }
    path pool { maxpool(k=3, s=1, p=1) conv(3, k=1) }
}
conv(5, k=1)
"""


class Inception(nn.Module):
    """Registers its branches pool, b3, b1, and concatenates b1, b3, pool."""

    def __init__(self, c: int):
        super().__init__()
        self.pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(c, 3, 1))
        self.b3 = nn.Sequential(nn.Conv2d(c, 6, 1), nn.BatchNorm2d(6), nn.ReLU(),
                                nn.Conv2d(6, 6, 3, padding=1))
        self.b1 = nn.Sequential(nn.Conv2d(c, 4, 1), nn.BatchNorm2d(4), nn.ReLU())

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.pool(x)], 1)


def _inception():
    return _randomize(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), Inception(8),
                                    nn.Conv2d(13, 5, 1)))


@pytest.mark.parametrize("as_state_dict", [False, True])
def test_branches_registered_in_another_order_transfer(as_state_dict):
    src = _inception()
    dst = cnndsl.loads(INCEPTION).to_module().double().eval()
    report = cnndsl.transfer_weights(src.state_dict() if as_state_dict else src, dst)
    assert report.by_structure and report.complete  # order alone does not pair these
    assert ("1.b1.1.running_mean", "b1.batchnorm_1.running_mean") in report.pairs
    _same_outputs(src, dst, (3, 8, 8))


def test_the_other_way_round_too():
    src = _randomize(cnndsl.loads(INCEPTION).to_module())
    dst = _inception()
    cnndsl.transfer_weights(src, dst)
    _same_outputs(src, dst, (3, 8, 8))


# ----------------------------------------------------- ConvNeXt's layer scale

DIM = 8
CNBLOCK = ("add { path { } path b { conv(8, k=7, p=3, groups=8) layer_norm2d "
           "channel_linear(32) gelu channel_linear(8) layer_scale(1e-6) } }")


class Permute(nn.Module):
    def __init__(self, *dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)


class TorchvisionCNBlock(nn.Module):
    """torchvision's CNBlock in eval mode: layer_scale registered after the block, yet a
    module's own parameters come before its children's, so it is first in state_dict."""

    def __init__(self, dim: int = DIM):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, 7, padding=3, groups=dim), Permute(0, 2, 3, 1),
            nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, 4 * dim), nn.GELU(),
            nn.Linear(4 * dim, dim), Permute(0, 3, 1, 2))
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * 1e-6)

    def forward(self, x):
        return self.layer_scale * self.block(x) + x


class LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim, 1, 1), 1e-6))

    def forward(self, x):
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class TimmLikeBlock(nn.Module):
    """The same block as timm writes it: the scale a submodule after the MLP, so last."""

    def __init__(self, dim: int = DIM):
        super().__init__()
        self.conv_dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim)
        self.ls = LayerScale(dim)

    def forward(self, x):
        y = self.mlp(self.norm(self.conv_dw(x).permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        return x + self.ls(y)


def test_torchvisions_cnblock_loads_into_the_spec():
    src = _randomize(TorchvisionCNBlock())
    assert next(iter(src.state_dict())) == "layer_scale"
    dst = cnndsl.loads(f"network t\ninput [{DIM}, 7, 7]\n{CNBLOCK}\n").to_module().double().eval()
    report = cnndsl.transfer_weights(src, dst)
    assert ("layer_scale", "b.layer_scale_1") in report.pairs
    _same_outputs(src, dst, (DIM, 7, 7))


@pytest.mark.parametrize("into_spec", [True, False])
def test_a_scale_registered_last_pairs_with_the_bare_parameter(into_spec):
    timm = _randomize(TimmLikeBlock())
    assert list(timm.state_dict())[-1] == "ls.gamma"
    spec = _randomize(cnndsl.loads(f"network t\ninput [{DIM}, 7, 7]\n{CNBLOCK}\n").to_module())
    src, dst = (timm, spec) if into_spec else (spec, _randomize(TimmLikeBlock(), seed=5))
    report = cnndsl.transfer_weights(src, dst)
    assert report.by_structure
    assert {("ls.gamma", "b.layer_scale_1"), ("b.layer_scale_1", "ls.gamma")} & set(report.pairs)
    _same_outputs(src, dst, (DIM, 7, 7))


def test_each_block_of_a_stage_keeps_its_own_scale():
    """Aligning the flat sequences in order would shift every scale into the next block
    (scale, conv, ... against conv, ..., scale): the blocks must pair as blocks."""
    blocks = 4
    src = _randomize(nn.Sequential(*[TimmLikeBlock() for _ in range(blocks)], nn.Conv2d(DIM, 3, 1)))
    spec = (f"network t\ninput [{DIM}, 7, 7]\nblock cnblock() {{ {CNBLOCK} }}\n"
            f"stage s {{ for i in range({blocks}) {{ cnblock() }} }}\nconv(3, k=1)\n")
    dst = cnndsl.loads(spec).to_module().double().eval()
    report = cnndsl.transfer_weights(src, dst)
    for i in range(blocks):
        assert (f"{i}.ls.gamma", f"s.cnblock_{i + 1}.b.layer_scale_1") in report.pairs
    _same_outputs(src, dst, (DIM, 7, 7))


# ----------------------------------------------------- refusals

def test_twins_out_of_order_are_refused_with_both_candidates():
    """The source registers a, b, c, d; the spec has c, d, a, b, and a and b are identical.
    Either a and b moved or c and d did: no order pins which of a and b is which path."""
    src = nn.Module()
    src.a, src.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1)
    src.c, src.d = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(3, 2, 1)
    dst = cnndsl.loads("network t\ninput [3, 5, 5]\nconcat { path c { conv(6, k=3, p=1) } "
                       "path d { conv(2, k=1) } path a { conv(4, k=1) } path b { conv(4, k=1) } }"
                       ).to_module()
    message = str(_unchanged(dst, src))
    assert "by structure, source 'a' fits destination 'a' and 'b' equally" in message
    report = cnndsl.transfer_weights(src, dst, strict=False)
    assert report.pairs == (("c.weight", "c.conv_1.weight"), ("c.bias", "c.conv_1.bias"),
                            ("d.weight", "d.conv_1.weight"), ("d.bias", "d.conv_1.bias"))
    assert report.unpaired_source == ("a.weight", "a.bias", "b.weight", "b.bias")
    assert report.problems == ("source 'a' fits destination 'a' and 'b' equally",)
    assert torch.equal(dst.c.conv_1.weight, src.c.weight)


def test_twins_in_the_same_order_pair_in_that_order():
    src = nn.Module()
    src.c, src.a, src.b = nn.Conv2d(3, 6, 3), nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1)
    dst = cnndsl.loads("network t\ninput [3, 5, 5]\nconcat { path a { conv(4, k=1) } "
                       "path b { conv(4, k=1) } path c { conv(6, k=3, p=1) } }").to_module()
    report = cnndsl.transfer_weights(src, dst)
    assert ("a.weight", "a.conv_1.weight") in report.pairs
    assert ("b.weight", "b.conv_1.weight") in report.pairs


def test_layers_of_one_module_are_not_swapped():
    """Two layers of one Sequential are applied in their order: pairing them across each
    other would load a different network."""
    src = nn.Sequential(nn.BatchNorm2d(4, affine=False), nn.BatchNorm2d(4))
    dst = cnndsl.loads("network t\ninput [4, 2, 2]\nbn bn(affine=false)").to_module()
    message = str(_unchanged(dst, src))
    assert message.startswith("entry 0: source '0.running_mean' is a buffer but destination "
                              "'batchnorm_1.weight'")
    assert "by structure, source layers '0' then '1' fit destination layers 'batchnorm_2' " \
           "and 'batchnorm_1', registered the other way round" in message


def test_a_missing_layer_is_named_on_each_side_and_nothing_is_copied():
    src = _inception()
    del src[1].b3[3]  # b3 loses its 3x3 conv
    dst = cnndsl.loads(INCEPTION).to_module()
    message = str(_unchanged(dst, src))
    assert "2 destination entries pair with nothing: 'b3.conv_2.weight' 6x6x3x3 (declared " \
           "at <spec>:6:36), 'b3.conv_2.bias' 6" in message
    assert "source entries pair with nothing" not in message


def test_the_error_names_a_few_entries_and_counts_the_rest():
    src = nn.Sequential(nn.Conv2d(3, 4, 1))
    dst = cnndsl.loads("network t\ninput [3, 4, 4]\nconv(4, k=1) bn bn bn bn").to_module()
    message = str(_unchanged(dst, src))
    assert "20 destination entries pair with nothing: 'batchnorm_1.weight' 4 " in message
    assert message.endswith(", 'batchnorm_1.running_var' 4 and 16 more")


def test_a_refused_value_in_a_structural_pair_copies_nothing():
    src = _inception()
    with torch.no_grad():
        src[1].pool[1].bias[0] = float("nan")
    dst = cnndsl.loads(INCEPTION).to_module().double()
    message = str(_unchanged(dst, src))
    assert message.startswith("entry 3: source parameter '1.pool.1.bias' holds NaN")
    assert "for destination parameter 'pool.conv_1.bias'" in message


# ----------------------------------------------------- strict=False

def test_not_strict_copies_the_backbone_and_reports_the_new_head():
    src = _inception()
    src[2] = nn.Conv2d(13, 1000, 1).double()
    dst = cnndsl.loads(INCEPTION).to_module().double().eval()
    report = cnndsl.transfer_weights(src, dst, strict=False)
    assert report.unpaired_source == ("2.weight", "2.bias")
    assert report.unpaired_destination == ("conv_2.weight", "conv_2.bias")
    assert not report.complete and not report.problems
    seen = {}
    src[2].register_forward_hook(lambda m, inputs, out: seen.update(src=inputs[0]))
    dst.conv_2.register_forward_hook(lambda m, inputs, out: seen.update(dst=inputs[0]))
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        src(x), dst(x)
    torch.testing.assert_close(seen["dst"], seen["src"], **TOL)  # all before the head


# ----------------------------------------------------- shuffled siblings, any shape

class Branch(nn.Module):
    def __init__(self, layers: list[nn.Module], scale: str, channels: int):
        super().__init__()
        self.out = channels
        if scale == "bare":  # a module's own parameter: first in its state_dict
            self.gamma = nn.Parameter(torch.ones(channels, 1, 1))
        self.body = nn.Sequential(*layers)
        if scale == "module":  # a submodule after the body: last
            self.ls = LayerScale(channels)

    def forward(self, x):
        y = self.body(x)
        return y * self.gamma if hasattr(self, "gamma") else self.ls(y) if hasattr(self, "ls") \
            else y


class Shuffled(nn.Module):
    """Registers branch i as ``p{i}`` in the order ``order``, concatenates them by i."""

    def __init__(self, branches: list[Branch], order: list[int]):
        super().__init__()
        self.stem = nn.Conv2d(2, 3, 1)
        self.k = len(branches)
        for i in order:
            setattr(self, f"p{i}", branches[i])
        self.head = nn.Conv2d(sum(b.out for b in branches), 2, 1)

    def forward(self, x):
        x = self.stem(x)
        return self.head(torch.cat([getattr(self, f"p{i}")(x) for i in range(self.k)], 1))


branch = st.fixed_dictionaries({"k": st.sampled_from([1, 3]), "bn": st.booleans(),
                                "second": st.one_of(st.none(), st.integers(1, 4)),
                                "scale": st.sampled_from(["none", "bare", "module"])})


@settings(max_examples=40, deadline=None)
@given(shapes=st.lists(branch, min_size=2, max_size=4),
       widths=st.permutations([1, 2, 3, 4, 5]), data=st.data())
def test_shuffled_sibling_branches_still_transfer(shapes, widths, data):
    """Each branch starts with a conv of its own width, so every branch's signature is unique;
    whatever order the source registers them in, the outputs are the spec's."""
    order = data.draw(st.permutations(range(len(shapes))), label="registration order")
    branches, paths = [], []
    for i, (shape, width) in enumerate(zip(shapes, widths)):
        layers = [nn.Conv2d(3, width, shape["k"], padding=shape["k"] // 2)]
        text = [f"conv({width}, k={shape['k']}, p={shape['k'] // 2})"]
        if shape["bn"]:
            layers.append(nn.BatchNorm2d(width))
            text.append("bn")
        layers.append(nn.ReLU())
        text.append("relu")
        out = width
        if shape["second"]:
            out = shape["second"]
            layers.append(nn.Conv2d(width, out, 1))
            text.append(f"conv({out}, k=1)")
        if shape["scale"] != "none":
            text.append("layer_scale(1.0)")
        branches.append(Branch(layers, shape["scale"], out))
        paths.append(f"path p{i} {{ {' '.join(text)} }}")
    src = _randomize(Shuffled(branches, order))
    spec = (f"network t\ninput [2, 5, 5]\nconv(3, k=1)\nconcat {{ {' '.join(paths)} }}\n"
            f"conv(2, k=1)\n")
    dst = cnndsl.loads(spec).to_module().double().eval()
    report = cnndsl.transfer_weights(src, dst)
    assert report.complete
    _same_outputs(src, dst, (2, 5, 5))
    back = _randomize(copy.deepcopy(src), seed=9)  # and from the spec into the source
    cnndsl.transfer_weights(dst, back)
    _same_outputs(dst, back, (2, 5, 5))


# ----------------------------------------------------- scale, without torch

def test_hundreds_of_identical_blocks_pair_block_by_block():
    """Keys and shapes only: 300 timm-like blocks (scale last) against 300 spec blocks
    (scale first) pair each block with its own, in one pass over the trees."""
    def timm(i):
        return [(f"s.{i}.conv.weight", (8, 1, 7, 7)), (f"s.{i}.conv.bias", (8,)),
                (f"s.{i}.mlp.fc1.weight", (32, 8)), (f"s.{i}.mlp.fc2.weight", (8, 32)),
                (f"s.{i}.ls.gamma", (8, 1, 1))]

    def ours(i):
        return [(f"st.b{i}.p.scale", (8, 1, 1)), (f"st.b{i}.p.conv.weight", (8, 1, 7, 7)),
                (f"st.b{i}.p.conv.bias", (8,)), (f"st.b{i}.p.l1.weight", (32, 8)),
                (f"st.b{i}.p.l2.weight", (8, 32))]

    n = 300
    a = [e for i in range(n) for e in timm(i)]
    b = [e for i in range(n) for e in ours(i)]
    result = pair_by_structure(a, b)
    assert not result.problems and len(result.pairs) == 5 * n
    for i, j in result.pairs:
        assert a[i][0].split(".")[1] == b[j][0].split(".")[1][1:]  # block i with block i
        assert a[i][1] == b[j][1]


def _tree(rng, depth: int, ids: list) -> tuple:
    """A random module tree: ("module", children), ("layer", id, shapes), ("bare", id, shape).
    Every unit's shapes are its own, so each can pair with one unit only."""
    children = []
    for _ in range(rng.randint(1, 4) if depth else 0):
        ids.append(len(ids))
        unique = 10 + len(ids)
        roll = rng.random()
        if roll < 0.2:
            children.append(("bare", ids[-1], [(unique, 1, 1)]))
        elif roll < 0.6 or depth == 1:
            children.append(("layer", ids[-1], [(unique, 3), (unique,)][:rng.randint(1, 2)]))
        else:
            children.append(_tree(rng, depth - 1, ids))
    if not any(kind != "bare" for kind, *_ in children):  # a module holds more than parameters
        ids.append(len(ids))
        children.append(("layer", ids[-1], [(10 + len(ids),)]))
    return ("module", sorted(children, key=lambda c: c[0] != "bare"))  # own entries come first


def _rearranged(rng, node: tuple) -> tuple:
    """The same units, as another library might hold them: submodules and bare parameters
    registered in another order, runs of children wrapped in a module, modules flattened.
    Plain layers of one module keep their order."""
    if node[0] != "module":
        return node
    children = [_rearranged(rng, c) for c in node[1]]
    movable = [i for i, c in enumerate(children) if c[0] != "layer"]
    moved = [children[i] for i in movable]
    rng.shuffle(moved)
    for i, c in zip(movable, moved):
        children[i] = c
    roll = rng.random()
    if roll < 0.25 and len(children) >= 2:
        i = rng.randrange(len(children) - 1)
        j = rng.randint(i + 2, len(children))
        if any(c[0] != "bare" for c in children[i:j]):
            children[i:j] = [("module", children[i:j])]
    elif roll < 0.5:
        inner = [i for i, c in enumerate(children) if c[0] == "module"]
        if inner:
            i = rng.choice(inner)
            children[i:i + 1] = children[i][1]
    return ("module", sorted(children, key=lambda c: c[0] != "bare"))


def _state(node: tuple, prefix: str, out: list) -> list:
    """[(key, shape, (unit id, entry))] in state_dict order."""
    for i, (kind, *rest) in enumerate(node[1]):
        name = f"{prefix}{kind[0]}{i}"
        if kind == "module":
            _state((kind, *rest), name + ".", out)
        elif kind == "bare":
            out.append((name, rest[1][0], (rest[0], 0)))
        else:
            out += [(f"{name}.w{e}", shape, (rest[0], e)) for e, shape in enumerate(rest[1])]
    return out


@settings(max_examples=200, deadline=None)
@given(rng=st.randoms(use_true_random=False), depth=st.integers(1, 4))
def test_unique_units_pair_through_any_reordering_and_regrouping(rng, depth):
    tree = _tree(rng, depth, [])
    a, b = _state(tree, "", []), _state(_rearranged(rng, tree), "", [])
    result = pair_by_structure([e[:2] for e in a], [e[:2] for e in b])
    assert not result.problems
    assert sorted(a[i][2] for i, _ in result.pairs) == sorted(e[2] for e in a)  # all of them
    assert all(a[i][2] == b[j][2] for i, j in result.pairs)  # each with its own
