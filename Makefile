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
	$(VENV)/bin/jaforge run recipes/lifecycle-tiny.yaml

test: $(VENV)/.jaforge-dev
	$(VENV)/bin/pytest

# SWALLOW_REPO: a copy of github.com/swallow-llm/swallow-corpus (its released annotator runs
# beside swallow_v1); without it the presets benchmark skips that comparison.
SWALLOW_REPO ?=
bench-corpus: $(VENV)/.jaforge-dev
	test -f benchmarks/data/debian_ja.jsonl || $(VENV)/bin/python benchmarks/debian_ja_corpus.py
	$(VENV)/bin/python benchmarks/corpus_filters.py
	$(VENV)/bin/python benchmarks/corpus_presets.py $(if $(SWALLOW_REPO),--swallow-repo $(SWALLOW_REPO))
	$(VENV)/bin/python benchmarks/corpus_scaling.py
