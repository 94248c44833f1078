# Development tasks. Each target creates .venv on first use; stamp files inside .venv record
# what was installed, so a second run reinstalls only when pyproject.toml changed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# A CPU build of PyTorch, installed before anything that depends on torch: with no torch
# present, pip would pick a CUDA build of several GB.
TORCH  ?= torch==2.13.0

.PHONY: demo test lint bench clean

demo: $(VENV)/.installed-examples
	$(PY) -m polyback.examples.tutorial --out out/

test: $(VENV)/.installed-all
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(VENV)/.installed-ruff
	$(PY) -m ruff check .

bench: $(VENV)/.installed-all
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) out build dist *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	touch $@

$(VENV)/.installed-examples: pyproject.toml $(VENV)/.created
	$(PIP) install -e ".[examples]"
	touch $@

$(VENV)/.installed-all: pyproject.toml $(VENV)/.created
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[all,examples,test]"
	touch $@

$(VENV)/.installed-ruff: pyproject.toml $(VENV)/.created
	$(PIP) install "ruff>=0.5"
	touch $@
