# lumos-jax developer commands. Every target creates/refreshes the local virtualenv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Tested versions; `pip install -e .` alone takes the minimums in setup.cfg.
CONSTRAINTS := constraints.txt
STAMP := $(VENV)/.installed

.PHONY: install test test-slow clean

$(STAMP): setup.cfg pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first, pinned to the CPU build: a looser request would pull GBs of CUDA wheels.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -c $(CONSTRAINTS) -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 2 -m "not slow" tests

test-slow: $(STAMP)
	$(PY) -m pytest -n 2 -m slow tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
