# The README's two commands: `make demo` and `make test`. Both create the virtual environment and
# install what they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml layers/*/requirements.txt | cksum | cut -d' ' -f1)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install databases demo test lint typecheck security checks unit contract integration openapi bench clean

$(STAMP): pyproject.toml $(wildcard layers/*/requirements.txt)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: install databases
	$(BIN)/cirrus demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint template.yaml

typecheck: install
	$(BIN)/mypy

security: install
	$(BIN)/bandit --quiet --configfile pyproject.toml --recursive layers functions cirrus

checks: lint typecheck security
	$(BIN)/python -m cirrus.openapi --check
	$(BIN)/python -m cirrus.event_schemas --check
	$(BIN)/python -m cirrus.verified_permissions --check
	$(BIN)/python -m cirrus.statemachines --check

# Unit and contract tests spread over the machine's cores, one worker more than cores (at most four:
# tests spend part of their time waiting on sockets and threads, and the extra worker fills it), and
# their coverage is the gate. The integration tests share one local cloud per process, so they run in
# one process, after, without coverage: their handlers run in worker processes that coverage does not
# follow, and its tracer on the in-process emulator made the phase 1.6x slower for the local cloud's
# own lines alone, which its unit tests cover.
UNIT_WORKERS ?= $(shell $(PYTHON) -c "import os; print(min(4, (os.cpu_count() or 1) + 1))")

# The connectors' tests run against real PostgreSQL and MariaDB servers, which the tests start; this
# installs Debian's packages when they are missing and fails naming the server that cannot be had.
databases: install
	$(BIN)/python -m cirrus.localcloud.databases --ensure

test: checks databases
	$(BIN)/pytest tests/unit tests/contract --numprocesses=$(UNIT_WORKERS) --cov --cov-report=term --cov-report=xml
	$(BIN)/pytest tests/integration

openapi: install
	$(BIN)/python -m cirrus.openapi
	$(BIN)/python -m cirrus.event_schemas
	$(BIN)/python -m cirrus.verified_permissions
	$(BIN)/python -m cirrus.statemachines

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage coverage.xml build *.egg-info .cirrus
