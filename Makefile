# lumos-jax developer commands. Every target creates/refreshes the local virtualenv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Tested versions; `pip install -e .` alone takes the minimums in setup.cfg.
CONSTRAINTS := constraints.txt
STAMP := $(VENV)/.installed

.PHONY: install lint browser test test-slow demo app bench clean

$(STAMP): setup.cfg pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first, pinned to the CPU build: a looser request would pull GBs of CUDA wheels.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -c $(CONSTRAINTS) -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The ruff and pyink settings of pyproject.toml; `pyink lumos_jax tests configs` formats.
LINT_PATHS := lumos_jax tests configs
lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/pyink --check --quiet $(LINT_PATHS)

# Headless Chromium for tests/app/browser_test.py: Debian's packages (as root, or with sudo),
# installed only when missing; the test drives /usr/bin/chromium through /usr/bin/chromedriver.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
	  $(SUDO) apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium chromium-driver; }

test: $(STAMP) lint browser
	$(PY) -m pytest -n 2 -m "not slow" tests

test-slow: $(STAMP)
	$(PY) -m pytest -n 2 -m slow tests

# The main job on the embedded default: prepare the synthetic data and fit the demo tokenizer (done
# by `train` on first use), train configs/demo.py, then sample the held-out prompts into
# outputs/demo/ and print the prompt-adherence table. Re-running resumes / reuses what exists.
DEMO_RUN ?= outputs/demo/run
demo: $(STAMP)
	$(PY) -m lumos_jax train --config=configs/demo.py --workdir=$(DEMO_RUN) --config.data.dir=outputs/data
	$(PY) -m lumos_jax eval --workdir=$(DEMO_RUN) --out=outputs/demo

# The web app (lumos_jax/app) on the demo run, at http://127.0.0.1:$(APP_PORT).
APP_PORT ?= 7860
app: $(STAMP)
	@test -f $(DEMO_RUN)/config.json || { \
	  echo "no demo run in $(DEMO_RUN): run \`make demo\` first"; exit 2; }
	$(PY) -m lumos_jax app --workdir=$(DEMO_RUN) --port=$(APP_PORT)

# CPU benchmarks (attention, train step, sampling, data): bench/results/latest.json and
# docs/benchmarks.md.
bench: $(STAMP)
	$(PY) -m lumos_jax bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
