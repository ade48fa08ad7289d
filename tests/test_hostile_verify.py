"""The self-check of generated source (issue 17): what it lets through and what not."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

import cnndsl
from cnndsl.backends import torch_codegen
from cnndsl.backends.torch_codegen import GeneratedSourceError, generate, verify_source
from cnndsl.backends.torch_module import load_class
from cnndsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.cnn"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_spec_passes_in_every_variant(spec):
    graph = cnndsl.load(spec).graph
    verify_source(generate(graph).text)
    verify_source(generate(graph, probe=True).text, frozenset({"probe"}))


GOOD = '''"""A module docstring."""
import torch
from torch import nn
import torch.nn.functional as F


class A(nn.Module):
    """Doc."""
    scale = (1, 2.5, "x")

    def __init__(self, text: str = "", size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.__dict__["a"] = F.relu
        self.b = nn.Conv2d(1, 2, kernel_size=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [v for v in range(len(x.shape))]
        return torch.cat([x, x], 1) * min(y)
'''


def test_what_generated_code_needs_passes():
    verify_source(GOOD)


@pytest.mark.parametrize("bad", [
    "print('x')",  # a call at import
    "import os",
    "from os import system",
    "from . import x",
    "x = 1",
    "if True:\n    import torch",
    "@torch.jit.script\nclass B:\n    pass",  # a decorator is a call
    "class B(metaclass=type):\n    pass",
    "class B(nn.Module.__class__):\n    pass",
    "class B:\n    x = print('x')",
    "class B:\n    print('x')",
    "class B:\n    def f(self, a=print('x')):\n        pass",
    "class B:\n    @property\n    def f(self):\n        pass",
    "class B:\n    def f(self, a: print('x')):\n        pass",
    "class B:\n    def f(self):\n        __import__('os').system('x')",
    "class B:\n    def f(self):\n        open('/etc/passwd')",
    "class B:\n    def f(self):\n        eval('1')",
    "class B:\n    def f(self):\n        getattr(self, 'x')",
    "class B:\n    def f(self):\n        return ().__class__.__base__.__subclasses__()",
    "class B:\n    def f(self):\n        import os",
    "class B:\n    def f(self):\n        global torch",
    "class B:\n    def f(self):\n        return lambda: 1",
    "class B:\n    def f(self):\n        def g():\n            pass",
    "# a comment with a \u202e bidi override",
    "# a form feed \x0c in a comment",
    "x = '''",  # does not parse
    "class A:\n    pass",  # A twice: the second would silently replace the first
])
def test_what_could_run_code_or_hide_it_is_refused(bad):
    with pytest.raises(GeneratedSourceError, match="generated source"):
        verify_source(GOOD + "\n\n" + bad + "\n")


# -------------------------------- classes torch.nn lacks (Ctor.source, ops)


@dataclass(frozen=True)
class _Ctor:  # Ctor with its `source` field, as cnndsl.ops.base will have it
    cls: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    source: str = ""


SCALE = '''class Scale2d(nn.Module):
    """Multiplies by a constant."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor
'''


def test_a_class_torch_lacks_is_defined_once_and_called_without_nn():
    net = cnndsl.loads("network t\ninput [1, 4, 4]\nrelu stage s { relu }\n")
    relus = [v for v in net.layers() if v.endswith("relu_1")]
    overrides = {v: _Ctor("Scale2d", (2.0,), {}, SCALE) for v in relus}
    source = generate(net.graph, overrides=overrides)
    text = source.text
    assert text.count("class Scale2d(nn.Module):") == 1
    assert text.index("class Stage(nn.Sequential)") < text.index("class Scale2d") < text.index("class T(")
    assert "self.relu_1 = Scale2d(2.0)" in text and "nn.Scale2d" not in text
    model = load_class(source)()
    x = torch.randn(1, 1, 4, 4)
    assert torch.equal(model(x), x * 4)


@pytest.mark.parametrize("name, cls", [("path", "NetPath"), ("stage", "NetStage"),
                                       ("block", "NetBlock"), ("scope", "NetScope"),
                                       ("layer_norm2d", "NetLayerNorm2d")])
def test_a_network_named_like_a_class_of_the_file_gets_another_name(name, cls):
    # `network path` compiled to `class Path(Scope)`, which then built itself
    # for every path of the spec until the recursion limit.
    net = cnndsl.loads(f"network {name}\ninput [3, 4, 4]\n"
                       "concat { path { relu } path { relu } } layer_norm2d\n", "s.cnn")
    model = net.to_module()
    assert type(model).__name__ == cls
    assert model(torch.zeros(1, 3, 4, 4)).shape == (1, 6, 4, 4)


def test_a_constructor_that_is_not_a_name_is_refused():
    net = cnndsl.loads("network t\ninput [1, 4, 4]\nrelu\n")
    with pytest.raises(GeneratedSourceError):
        generate(net.graph, overrides={"relu_1": _Ctor("ReLU(); import os; x = (")})
    with pytest.raises(GeneratedSourceError):
        generate(net.graph, overrides={"relu_1": _Ctor("ReLU", (object(),))})


def test_a_failed_check_is_an_internal_error_and_writes_nothing(tmp_path, capsys, monkeypatch):
    # A bug that lets text out of a comment: compile must not write the file.
    monkeypatch.setattr(torch_codegen, "_comment", lambda text, indent=0: ["x = 1"])
    out = tmp_path / "out.py"
    assert main(["compile", str(ROOT / "specs" / "lenet.cnn"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cnndsl: internal error: generated source line 1")
    assert "please report it" in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
