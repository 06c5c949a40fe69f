# `make run` serves the simulator on http://127.0.0.1:8080; `make test` runs every test.
# Each target creates or refreshes the virtualenv it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test ui-deps screenshot bench clean

$(STAMP): pyproject.toml
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cm-sim serve $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Debian's Chromium (driven by Playwright) and zbar for the browser tests; needs root.
ui-deps:
	@if ! command -v chromium >/dev/null || ! command -v zbarimg >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium zbar-tools >/dev/null; \
	fi

screenshot: $(STAMP) ui-deps
	$(BIN)/python scripts/dashboard_screenshot.py dashboard.png

# Figures, not tests: start-up, throughput and latency, growth with stored orders, memory.
bench: $(STAMP)
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
