# `make run` serves the simulator on http://127.0.0.1:8080; `make test` runs every test.
# Each target creates or refreshes the virtualenv it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CKSUM := $(shell cksum pyproject.toml | cut -d' ' -f1)
STAMP := $(VENV)/.installed-$(CKSUM)
TEST_STAMP := $(VENV)/.installed-test-$(CKSUM)
BENCH_STAMP := $(VENV)/.installed-bench-$(CKSUM)
DEV_STAMP := $(VENV)/.installed-dev-$(CKSUM)

.PHONY: run test lint ui-deps screenshot bench soak crash clean

$(STAMP): pyproject.toml
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m compileall -q simulator  # bytecode now: start-up need not compile (PYTHONDONTWRITEBYTECODE)
	touch $(STAMP)

# the test toolchain (pytest, hypothesis, schemathesis, playwright) on top of the runtime install
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

# the bench extra (waitress, the old stack) on top of the test install
$(BENCH_STAMP): $(TEST_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

# the dev extra (ruff, mypy, stubs, pre-commit) on top of the test install
$(DEV_STAMP): $(TEST_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(DEV_STAMP)

run: $(STAMP)
	$(BIN)/cm-sim serve $(ARGS)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff (lint and format check) over the code and tests, mypy over the package (configured in pyproject.toml)
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Debian's Chromium (driven by Playwright) and zbar for the browser tests; needs root.
ui-deps:
	@if ! command -v chromium >/dev/null || ! command -v zbarimg >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium zbar-tools >/dev/null; \
	fi

screenshot: $(TEST_STAMP) ui-deps
	$(BIN)/python scripts/dashboard_screenshot.py dashboard.png

# wrk, the load generator of make bench (without it the bench falls back to a Python one); needs root.
# Prism and WireMock (npm, and Java for WireMock) go into ~/.cache/cm-sim-bench on the first run.
.PHONY: bench-deps
bench-deps:
	@if ! command -v wrk >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	fi

# Figures, not tests: start-up, throughput and latency of the new stack (granian) and the old one
# (waitress) side by side, beside Prism, WireMock and bare Flask; growth with stored orders,
# memory; every target met or missed. BENCH_QUICK=1: start-up and side by side only.
bench: $(BENCH_STAMP) bench-deps
	$(BIN)/python scripts/bench.py

# Reliability checks, not tests: mixed traffic with fault rules on for SOAK_SECONDS (default 600),
# and SIGKILL under load CRASH_ROUNDS times (default 5) then SIGTERM; each restarts on its data file.
soak: $(STAMP)
	$(BIN)/python scripts/soak.py

crash: $(STAMP)
	$(BIN)/python scripts/crash.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# The container image cm-sim:<version> (and cm-sim:latest), with docker when its daemon answers,
# else podman (given --format docker, which keeps the HEALTHCHECK); ENGINE=... picks one,
# IMAGE_ARGS adds build options (--build-arg BASE=..., say). See Dockerfile.
VERSION = $(shell sed -n 's/^VERSION = "\(.*\)"/\1/p' simulator/version.py)
IMAGE ?= cm-sim
ENGINE ?= $(shell if docker info >/dev/null 2>&1; then echo docker; elif command -v podman >/dev/null; then echo podman; else echo docker; fi)
IMAGE_FORMAT = $(if $(findstring podman,$(shell $(ENGINE) --version 2>/dev/null)),--format docker)

.PHONY: image image-test
image:
	$(ENGINE) build $(IMAGE_FORMAT) --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION) -t $(IMAGE):latest $(IMAGE_ARGS) .

# Builds the image on this project's machines (no registry: a local Debian base; podman) and
# drives it: health, the README's calls, scenarios, the health check, a stop. Needs root.
image-test:
	$(PYTHON) scripts/image_test.py
