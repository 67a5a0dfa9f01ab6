# Every target sets up what it needs on first use: a local virtualenv in .venv with the CPU build of
# torch 2.13.0, tl-reasoning (editable, with dev tools) and the plugin packages in plugins/, at the exact
# versions the test suite was run with (constraints.txt, written by `make lock`).
# GPU users: make install TORCH_SPEC="torch==2.13.0 --index-url <your CUDA wheel index>"
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
PLUGINS := $(wildcard plugins/*/pyproject.toml)
CONSTRAINTS := constraints.txt
LATEST_VENV ?= .venv-latest
# The tests that catch an upstream break first: every backend against the others, cached and uncached.
PARITY_TESTS := tests/test_backends.py tests/test_bridge_kv_cache.py tests/test_steering_organism.py

.PHONY: install test test-latest lock lint demo clean browser

$(STAMP): pyproject.toml $(PLUGINS) $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c $(CONSTRAINTS) --upgrade pip
	$(PY) -m pip install -q -c $(CONSTRAINTS) $(TORCH_SPEC)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e ".[dev]" $(foreach p,$(PLUGINS),-e $(dir $(p)))
	touch $(STAMP)

install: $(STAMP)

# Record the versions installed in .venv (run after `make test` passed on them); commit constraints.txt.
lock: $(STAMP)
	{ echo "# Exact versions tl-reasoning's test suite passed with (made by make lock; used by make install/test/CI)."; \
	  echo "# python $$($(PY) -c 'import platform; print(platform.python_version())'), written $$(date -u +%Y-%m-%d)"; \
	  $(PY) -m pip freeze --all --exclude-editable | sed -E 's/\+[A-Za-z0-9.]+$$//' | LC_ALL=C sort -f; } > $(CONSTRAINTS).tmp
	mv $(CONSTRAINTS).tmp $(CONSTRAINTS)
	touch $(STAMP)

# The newest releases of every dependency (torch stays at TORCH_SPEC: a newer one is a CUDA download) in a
# separate venv, running the backend parity tests: an upstream break shows up the day it is released.
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install -q $(TORCH_SPEC)
	$(LATEST_VENV)/bin/python -m pip freeze | grep -E '^torch==' > $(LATEST_VENV)/hold-torch.txt
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade --upgrade-strategy eager -c $(LATEST_VENV)/hold-torch.txt -e ".[dev]"
	@$(LATEST_VENV)/bin/python -m pip freeze | grep -iE '^(torch|transformers|transformer-lens|nnsight|sae-lens|tokenizers)=='
	HF_HUB_OFFLINE=1 WANDB_MODE=disabled $(LATEST_VENV)/bin/python -m pytest -q -p no:cacheprovider $(PARITY_TESTS)

# Headless chromium for the dashboard's browser tests (Debian package; installed as root when missing).
browser:
	@command -v chromium >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: chromium missing and not root: browser tests skip (fail when CI=true)"; fi; }

test: $(STAMP) browser
	HF_HUB_OFFLINE=1 WANDB_MODE=disabled $(PY) -m pytest -q tests $(foreach p,$(PLUGINS),$(dir $(p))tests)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

DEMO_OUT ?= runs/demo
DEMO_ARGS ?=

# The main job: the paper reproduced end to end on the organism (score -> dashboard -> steering evaluation
# with random-feature controls -> word ban -> model diffing) into one report folder; DEMO_ARGS=--quick for a smoke run.
demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/tl-reasoning demo --out $(DEMO_OUT) $(DEMO_ARGS)

clean:
	rm -rf $(VENV) $(LATEST_VENV) .pytest_cache .ruff_cache
