# Two set-up commands (see README.md): `make demo` runs the main job, `make test` runs the tests.
# Each creates the virtual environment $(VENV) on first use and installs jaforge into it.
VENV ?= .venv
PYTHON ?= python3
PIP = $(VENV)/bin/pip

.PHONY: demo test bench-corpus

$(VENV)/.jaforge-dev:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.jaforge-dev
	$(VENV)/bin/jaforge lifecycle --config recipes/lifecycle-tiny.yaml

test: $(VENV)/.jaforge-dev
	$(VENV)/bin/pytest

bench-corpus: $(VENV)/.jaforge-dev
	$(VENV)/bin/python benchmarks/debian_ja_corpus.py
	$(VENV)/bin/python benchmarks/corpus_filters.py
