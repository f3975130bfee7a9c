# Two commands do all the set-up on a fresh machine: `make up` (local mode) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_PACKAGES := ffmpeg espeak-ng sox pocketsphinx-testdata

.PHONY: setup system-packages up test lint format bench-registry clean

setup: $(STAMP)

# torch first, pinned: it is on this machine's disk; any other torch requirement downloads gigabytes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[embeddings,asr,dev]'
	$(PY) -m pip install -q --no-deps openai-whisper==20250625
	touch $@

system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "please install: $$missing (sudo apt-get install $$missing)"; exit 1; fi; \
	fi

up: setup system-packages
	$(VENV)/bin/dhg up $(ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy registry dhg asr

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup system-packages lint
	$(PY) -m pytest $(ARGS)

bench-registry: setup
	$(PY) -m bench.registry $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
