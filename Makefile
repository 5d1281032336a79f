# Two set-up commands (see README.md): `make demo` runs the main job, `make test` runs the tests.
# Each creates the virtual environment $(VENV) on first use and installs jaforge into it.
VENV ?= .venv
PYTHON ?= python3
PIP = $(VENV)/bin/pip
# The CPU build of torch; GPU users install their own build first and set TORCH= (empty).
TORCH ?= torch==2.13.0

.PHONY: demo test bench-corpus

$(VENV)/.jaforge-dev:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(if $(TORCH),$(PIP) install -q $(TORCH))
	$(PIP) install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.jaforge-dev
	$(VENV)/bin/jaforge lifecycle --config recipes/lifecycle-tiny.yaml

test: $(VENV)/.jaforge-dev
	$(VENV)/bin/pytest

bench-corpus: $(VENV)/.jaforge-dev
	$(VENV)/bin/python benchmarks/debian_ja_corpus.py
	$(VENV)/bin/python benchmarks/corpus_filters.py
