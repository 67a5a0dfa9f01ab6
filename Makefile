# Every target sets up what it needs on first use: a local virtualenv in .venv with the CPU build of
# torch 2.13.0, tl-reasoning (editable, with dev tools) and the plugin packages in plugins/.
# GPU users: make install TORCH_SPEC="torch==2.13.0 --index-url <your CUDA wheel index>"
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
PLUGINS := $(wildcard plugins/*/pyproject.toml)

.PHONY: install test lint demo clean browser

$(STAMP): pyproject.toml $(PLUGINS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[dev]" $(foreach p,$(PLUGINS),-e $(dir $(p)))
	touch $(STAMP)

install: $(STAMP)

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
	rm -rf $(VENV) .pytest_cache .ruff_cache
