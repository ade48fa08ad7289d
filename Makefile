# Two commands do all set-up on a fresh machine:
#   make demo   create .venv if missing, then check specs/googlenet.cnn
#   make test   create .venv if missing, then run the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test gallery

demo: $(STAMP)
	$(VENV)/bin/cnndsl check specs/googlenet.cnn

test: $(STAMP)
	$(PY) -m pytest

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
