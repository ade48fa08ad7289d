"""The examples in cnndsl's docstrings run and say what they show."""

import doctest
import importlib
import pkgutil

import pytest

import cnndsl

MODULES = sorted(m.name for m in pkgutil.walk_packages(cnndsl.__path__, "cnndsl.")
                 if m.name not in ("cnndsl.__main__",))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) in {name} failed"


def test_the_public_api_has_examples():
    finder = doctest.DocTestFinder()
    for obj in (cnndsl, cnndsl.load, cnndsl.Network, cnndsl.Network.to_module,
                importlib.import_module("cnndsl.transfer")):  # transfer_weights' example
        assert any(t.examples for t in finder.find(obj)), obj
