# gatepass — the two front doors are `make demo` and `make test`.
# Everything they need is installed here: a virtualenv from PyPI, and the
# Kubernetes control plane + helm built from Go modules (cached in ~/.cache/gatepass).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
LC     := $(PYTHON) tools/localcluster/localcluster.py
PYTEST_ARGS ?=

.PHONY: help venv localcluster lint test unit e2e demo cluster-up cluster-down clean

help:
	@echo "make demo          run the service-token story on a local control plane"
	@echo "make test          lint, type-check, unit and end-to-end tests (builds what it needs)"
	@echo "make cluster-up    start the local control plane in the background (.localcluster/)"
	@echo "make cluster-down  stop it"

$(STAMP):
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

venv: $(STAMP)

localcluster:
	@$(LC) build >/dev/null

lint: venv
	$(BIN)/ruff check operator tests tools
	$(BIN)/ruff format --check operator tests tools
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

e2e: venv localcluster
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

test: venv localcluster lint
	$(BIN)/pytest $(PYTEST_ARGS)

demo: venv localcluster
	$(BIN)/python tools/demo.py

cluster-up: localcluster
	@$(LC) up .localcluster

cluster-down:
	@$(LC) down .localcluster

clean: cluster-down
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
