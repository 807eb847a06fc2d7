# The README's commands. `make run` needs only Python 3.11+ on the machine; `make test` also installs Debian's
# `chromium` (apt-get, with sudo when not root) for the browser tier when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp

.PHONY: run test test-fast check bench install browser clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e clients/python
	touch $(STAMP)

install: $(STAMP)

# The browser tier drives Debian's Chromium (Playwright never downloads one): installed when missing.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get install -y --no-install-recommends chromium || \
	  { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; }; }

run: $(STAMP)
	$(BIN)/meterflow run

# Lint, strict typing and the import rules gate the suite: CI runs `make test`, so it runs all four. Two
# pytest-xdist workers, each with its own servers and a band of ports of its own, a test module at a time per
# worker (module fixtures stay shared): most tests wait on processes rather than burn CPU, so even a 2-core
# box gains (docs/testing.md). Tests marked `alone` (the chaos run) follow, by themselves. Both parts always
# run; either failing fails the target. TEST_WORKERS=0 runs the first part serially.
TEST_WORKERS ?= 2
test: check browser
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope -m "not alone"; parallel=$$?; \
	$(BIN)/pytest -m alone; alone=$$?; \
	test $$parallel -eq 0 -a $$alone -eq 0

# The inner loop: the pure rules and each adapter against its real server (the contract suites), in about a
# minute. CI runs `make test`, every tier.
test-fast: check
	$(BIN)/pytest tests/unit tests/integration

check: $(STAMP)
	$(BIN)/ruff check shared services tests bench testkit clients/python
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench


clean:
	rm -rf $(VENV) .data
