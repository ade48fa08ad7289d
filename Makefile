# Two commands do all set-up on a fresh machine:
#   make demo   create .venv if missing, then check specs/googlenet.cnn
#   make test   create .venv if missing, then run the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test gallery rf-docs package

demo: $(STAMP)
	$(VENV)/bin/cnndsl check specs/googlenet.cnn

test: $(STAMP)
	$(PY) -m pytest

# The packaging check (CI runs it after `make test`): build the sdist and the
# wheel, install the wheel alone into a clean venv (no torch) and use it from a
# folder outside the checkout; then add the torch extra (the CPU build, from
# pip's cache) and compile. Everything lands in build/package/.
PKG := $(CURDIR)/build/package
CORE := $(PKG)/venv/bin

package: $(STAMP)
	rm -rf $(PKG) && mkdir -p $(PKG)/work
	$(PY) -m build --outdir $(PKG)/dist .
	$(PY) -m twine check --strict $(PKG)/dist/*
	python3 -m venv $(PKG)/venv
	$(CORE)/pip install -q $(PKG)/dist/cnndsl-*.whl
	! $(CORE)/python -c "import torch" 2>/dev/null
	cd $(PKG)/work && $(CORE)/cnndsl --version
	cd $(PKG)/work && $(CORE)/cnndsl check zoo:resnet50 --json > resnet50.json
	cd $(PKG)/work && $(CORE)/cnndsl draw zoo:resnet50 -o resnet50.svg && test -s resnet50.svg
	cd $(PKG)/work && $(CORE)/cnndsl fmt --check "$$($(CORE)/python -c 'from cnndsl import zoo; print(zoo.zoo_dir())')"
	cd $(PKG)/work && { $(CORE)/cnndsl compile zoo:resnet50 -o resnet50.py 2> missing.txt; \
		test $$? = 1 && test "$$(wc -l < missing.txt)" = 1 && test ! -e resnet50.py && \
		grep -q 'pip install "cnndsl\[torch\]"' missing.txt || { cat missing.txt; exit 1; }; }
	$(CORE)/pip install -q torch==2.13.0
	$(CORE)/pip install -q "$$(ls $(PKG)/dist/cnndsl-*.whl)[torch]"
	cd $(PKG)/work && $(CORE)/cnndsl compile zoo:resnet50 -o resnet50.py
	cd $(PKG)/work && $(CORE)/python -c "import torch, resnet50; \
		assert resnet50.Resnet()(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)"
	@echo "package: the wheel checks, draws and names its extras outside the checkout; compile works with [torch]"

# Redraw docs/images/rf/ (docs/receptive-field.md); the effective-field picture needs torch.
rf-docs: $(STAMP)
	$(PY) -m cnndsl.rfplot --docs

# Redraw docs/gallery/ (every spec in specs/) and the layer reference in docs/language.md.
gallery: $(STAMP)
	$(PY) -m cnndsl.gallery
	$(PY) -m cnndsl.layer_docs

# torch==2.13.0 first: it is the CPU build; the project's `torch>=2.1` then
# installs nothing more. Graphviz's `dot` renders diagrams (cnndsl draw).
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	@command -v dot >/dev/null || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; \
	else echo "note: install Graphviz (apt-get install graphviz, brew install graphviz) for cnndsl draw"; fi; }
	touch $(STAMP)
