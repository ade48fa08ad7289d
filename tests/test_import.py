"""`cnndsl import` / cnndsl.importer.from_module: PyTorch models back to specs.

Round trips (CI has no torchvision): the hand-written reference modules of
tests/reference_models.py and the modules compiled from every spec in
specs/ and from a few zoo builders, each imported at a small input; the
spec must check, have the model's parameters, buffers and conv + linear
MACs, and give its output after transfer_weights (float64, eval). The
torchvision sweep is tests/reference/import_sweep.py.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import cnndsl  # noqa: E402
import reference_models as ref  # noqa: E402
from cnndsl.cli import main  # noqa: E402
from cnndsl.importer import ImportFailure, from_module  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.cnn"))
TOLERANCE = 1e-10
# specs the importer cannot write back: U-Net's skips across the network would
# need `-> name` / `from name` and tensor block parameters (and its crop is a
# slice): the import must refuse it (ImportFailure), never write a wrong spec
BEYOND = {"unet.cnn"}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared CI machine: no thread contention
    yield
    torch.set_num_threads(threads)


def macs_of(model, shape) -> int:
    """conv + linear multiply-adds of one forward (fvcore's convention), by hooks."""
    total = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            k = module.weight[0].numel()  # in / groups * kh * kw
            total.append(output[0].numel() * k)
        elif isinstance(module, nn.Linear):
            total.append(output[0].numel() * module.in_features)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros((1, *shape)))
    for h in handles:
        h.remove()
    return sum(total)


def round_trip(model, shape) -> cnndsl.Network:
    """Import ``model``, then prove the spec equal to it; return the spec's network."""
    model.eval()
    text = from_module(model, shape, verify=False)
    net = cnndsl.loads(text, "<import>")
    assert net.input_shape == tuple(shape)
    assert net.params == sum(p.numel() for p in model.parameters())
    assert net.graph.graph["macs"] == macs_of(model, shape)
    ours = net.to_module().double().eval()
    theirs = copy.deepcopy(model).double().eval()
    cnndsl.transfer_weights(theirs, ours)
    assert sum(b.numel() for b in ours.buffers()) == sum(b.numel() for b in theirs.buffers())
    x = torch.randn((2, *shape), generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)
    with torch.no_grad():
        want, got = theirs(x), ours(x)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= TOLERANCE * max(want.abs().max().item(), 1.0)
    return net


REFERENCES = [
    ("lenet", lambda: ref.lenet(), (1, 28, 28)),
    ("nin", lambda: ref.nin(classes=10), (3, 96, 96)),
    ("googlenet", lambda: ref.googlenet(classes=10), (3, 32, 32)),
    ("resnet18", lambda: ref.resnet18(classes=10), (3, 32, 32)),
    ("resnet50", lambda: ref.resnet50(classes=10), (3, 32, 32)),
    ("zoo_googlenet", lambda: ref.zoo_googlenet(classes=10), (3, 32, 32)),
]


@pytest.mark.parametrize("name,build,shape", REFERENCES, ids=[r[0] for r in REFERENCES])
def test_reference_modules_round_trip(name, build, shape):
    torch.manual_seed(0)
    round_trip(build(), shape)


def _small(path: Path) -> cnndsl.Network:
    """The spec at the smallest of a few input sizes it takes (narrow VGG widths)."""
    settings = {}
    if path.name in ("vgg.cnn", "vgg16.cnn"):
        text = path.read_text()
        arch = "[(1, 8), (1, 16), (2, 16), (2, 32), (2, 32)]" if "conv_arch" in text else None
        settings = {"conv_arch": eval(arch)} if arch else {}  # noqa: S307 - a literal
    channels = cnndsl.load(path, **settings).input_shape[0]
    for size in (32, 64, 96, 128, 224):
        try:
            return cnndsl.load(path, input_shape=(channels, size, size), **settings)
        except cnndsl.CnnError:
            continue
    return cnndsl.load(path, **settings)


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_specs_round_trip(path):
    net = _small(path)
    torch.manual_seed(0)
    model = net.to_module()
    if path.name in BEYOND:
        with pytest.raises(ImportFailure) as info:
            from_module(model, net.input_shape)
        assert "`" in str(info.value)  # names the module path or the operation
        return
    imported = round_trip(model, net.input_shape)
    assert imported.graph.graph["macs"] == net.graph.graph["macs"]
    assert imported.output_shape == net.output_shape


ZOO = [("squeezenet1_1", 32), ("shufflenet_v2_x0_5", 32), ("mobilenet_v3_small", 32),
       ("regnet_y_400mf", 32), ("densenet121", 32), ("convnext_tiny", 32)]


@pytest.mark.parametrize("name,size", ZOO, ids=[z[0] for z in ZOO])
def test_zoo_builders_round_trip(name, size):
    net = cnndsl.load(f"zoo:{name}", input_shape=(3, size, size), classes=10)
    torch.manual_seed(0)
    imported = round_trip(net.to_module(), net.input_shape)
    assert imported.graph.graph["macs"] == net.graph.graph["macs"]


def test_resnet50_reads_like_the_hand_written_spec():
    text = from_module(ref.resnet50(), (3, 32, 32), verify=False)
    blocks = [line for line in text.splitlines() if line.startswith("block ")]
    assert blocks == ["block bottleneck(c, stride = 1) {"]
    assert "if in.channels != c * 4" in text or "if stride != 1" in text
    assert "repeat 5 { bottleneck(256) }" in text

    def lines(t):
        return sum(1 for line in t.splitlines() if line.strip() and not
                   line.strip().startswith("#"))

    assert lines(text) <= 2 * lines((ROOT / "specs" / "resnet50.cnn").read_text())


def test_dense_concatenations_become_one_block_per_layer():
    """A DenseNet-style block (every layer reads the concatenation of all before it)."""

    class Layer(nn.Module):
        def __init__(self, c_in, growth):
            super().__init__()
            self.norm = nn.BatchNorm2d(c_in)
            self.conv = nn.Conv2d(c_in, growth, 3, padding=1, bias=False)

        def forward(self, features):
            return self.conv(torch.relu(self.norm(torch.cat(features, 1))))

    class Dense(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.layers = nn.ModuleList(Layer(8 + 4 * i, 4) for i in range(3))

        def forward(self, x):
            features = [self.stem(x)]
            for layer in self.layers:
                features.append(layer(features))
            return torch.cat(features, 1)

    net = round_trip(Dense(), (3, 8, 8))
    text = from_module(Dense(), (3, 8, 8), verify=False)
    assert "block layer() {" in text and "repeat 3 { layer }" in text
    assert net.output_shape == (20, 8, 8)


def test_a_projection_shortcut_becomes_an_if():
    text = from_module(ref.resnet18(classes=10), (3, 32, 32), verify=False)
    assert text.count("block ") == 1
    assert "if stride != 1 {" in text or "if in.channels != c {" in text


def test_a_flat_network_round_trips():
    mlp = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))
    net = round_trip(mlp, (20,))
    assert net.input_shape == (20,) and net.output_shape == (3,)


def test_two_classes_of_one_name_get_two_blocks():
    def unit_class(act):
        def __init__(self, c_in, width):
            nn.Sequential.__init__(self, nn.Conv2d(c_in, width, 3, padding=1), act())
        return type("Unit", (nn.Sequential,), {"__init__": __init__})  # both named Unit

    first, second = unit_class(nn.ReLU), unit_class(nn.Sigmoid)
    model = nn.Sequential(first(3, 8), second(8, 8), first(8, 8))
    net = round_trip(model, (3, 8, 8))
    text = from_module(model, (3, 8, 8), verify=False)
    assert text.count("block unit") == 2
    assert net.params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("word", ["Output", "Stage", "Concat", "Range"])
def test_a_class_named_like_a_word_of_the_language_gets_another_block_name(word):
    # the grammar's words (output, stage), the merges and the expressions' functions
    unit = type(word, (nn.Module,), {
        "__init__": lambda self, c: (nn.Module.__init__(self), setattr(self, "conv", nn.Conv2d(
            c, c, 3, padding=1)), setattr(self, "act", nn.ReLU()))[-1],
        "forward": lambda self, x: self.act(self.conv(x))})
    model = nn.Sequential(unit(4), unit(4))
    text = from_module(model, (4, 8, 8))
    assert f"block {word.lower()}(" not in text and f"block {word.lower()}_block" in text


def test_a_plain_sequential_subclass_is_written_in_place():
    stage = type("Stage", (nn.Sequential,), {})  # adds nothing: a container, as cnndsl's own
    model = nn.Sequential(stage(nn.Conv2d(3, 4, 3), nn.ReLU()), stage(nn.Conv2d(4, 4, 3)))
    text = from_module(model, (3, 8, 8))
    assert "block" not in text and "conv(4, k=3) relu" in text


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.gate = Gate()

    def forward(self, x):
        return self.gate(self.conv(x))


class Gate(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: fx cannot trace it
            return x
        return -x


class Upsampling(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Upsample(scale_factor=2))

    def forward(self, x):
        return self.body(x)


class Sine(nn.Module):
    def forward(self, x):
        return torch.sin(x)


class TwoOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return y, y


@pytest.mark.parametrize("model,words", [
    (DataDependent(), ["`gate` (Gate)", "control flow that depends on the data"]),
    (Upsampling(), ["`body.1` (Upsample)", "no layer in the language"]),
    (nn.Sequential(nn.Conv2d(3, 4, 3), Sine()), ["`1` (Sine)", "`sin`"]),
    (TwoOutputs(), ["more than one tensor"]),
    (nn.Sequential(nn.Conv2d(3, 4, 3, padding_mode="reflect")), ["`0` (Conv2d)",
                                                                  "padding_mode='reflect'"]),
], ids=["data-dependent", "upsample", "sin", "two-outputs", "reflect-padding"])
def test_what_the_language_lacks_is_a_clear_error(model, words):
    with pytest.raises(ImportFailure) as info:
        from_module(model, (3, 16, 16))
    for w in words:
        assert w in str(info.value)


def test_shared_weights_are_refused():
    conv = nn.Conv2d(4, 4, 3, padding=1)
    with pytest.raises(ImportFailure, match="called more than once"):
        from_module(nn.Sequential(conv, nn.ReLU(), conv), (4, 8, 8))


MODELS = '''
import torch
from torch import nn

def small(classes=10, width=8):
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes))

class Branchy(nn.Module):
    def forward(self, x):
        if x.mean() > 0:
            return x
        return x * 2
'''


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    (tmp_path / "mymodels.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("mymodels", None)


def test_cli_writes_a_spec_that_checks(models_dir, capsys):
    out = models_dir / "small.cnn"
    assert main(["import", "mymodels:small", "--set", "classes=5", "width=6",
                 "--input", "3x16x16", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("network small(in_channels = 3, classes = 5)")
    assert "conv(6, k=3, p=1) bn relu" in text
    assert main(["check", str(out)]) == 0
    capsys.readouterr()
    assert main(["import", "mymodels:small", "--input", "3x16x16"]) == 0
    assert capsys.readouterr().out.startswith("network small(")


def test_cli_errors_are_one_line_and_exit_1(models_dir, capsys):
    assert main(["import", "mymodels:Branchy", "--input", "3x8x8", "-o", "b.cnn"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cnndsl: error: cannot import mymodels:Branchy: ")
    assert "control flow" in err and "Traceback" not in err
    assert not (models_dir / "b.cnn").exists()  # no half-written file
    assert main(["import", "mymodels:nothing", "--input", "3x8x8"]) == 1
    assert "mymodels has no nothing" in capsys.readouterr().err
    assert main(["import", "no_such_module_here:f", "--input", "3x8x8"]) == 1
    assert "cannot import no_such_module_here" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["import", "mymodels", "--input", "3x8x8"],
                                  ["import", "mymodels:small", "--input", "3x8"],
                                  ["import", "mymodels:small"]])
def test_cli_usage_errors_exit_2(models_dir, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_without_torch_the_command_says_which_extra_in_one_line(tmp_path):
    from test_packaging import CLI, _child
    proc, report = _child(CLI, ["import", "mymodels:small", "--input", "3x8x8", "-o", "x.cnn"],
                          cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.startswith("cnndsl: error: cnndsl import needs the torch extra")
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "x.cnn").exists()
    # --help lists the command without importing torch
    proc, report = _child(CLI, ["--help"], cwd=tmp_path)
    assert proc.returncode == 0 and "import" in proc.stdout
    assert not [m for m in report["modules"] if m.partition(".")[0] == "torch"]
