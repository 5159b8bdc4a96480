# gatepass — the two front doors are `make demo` and `make test`.
# Everything they need is installed here: a virtualenv from PyPI, and the
# Kubernetes control plane + helm built from Go modules (cached in ~/.cache/gatepass).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
LC     := $(PYTHON) tools/localcluster/localcluster.py
PYTEST_ARGS ?=

.PHONY: help venv localcluster image test-deps chart-crds bench lint test unit e2e demo cluster-up cluster-down clean

help:
	@echo "make demo          run the service-token story on a local control plane"
	@echo "make test          lint, type-check, unit and end-to-end tests (builds what it needs)"
	@echo "make bench         gateway throughput/latency and operator idle CPU (bench/results/)"
	@echo "make cluster-up    start the local control plane and node in the background (.localcluster/)"
	@echo "                   (GATEPASS_NODE=0: the control plane alone, no pods)"
	@echo "make image         build the image from Dockerfile (buildah) and load it into that node"
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

# nginx, for the forward-auth test (auth_request). Installed from Debian when
# missing and we are root; otherwise that one test says why it skips.
test-deps:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing nginx-light (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null \
	      && { service nginx stop >/dev/null 2>&1 || true; }; \
	  else echo "nginx missing and not root: the forward-auth test will skip"; fi; }

lint: venv
	$(BIN)/ruff check operator tests tools bench
	$(BIN)/ruff format --check operator tests tools bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

e2e: venv localcluster test-deps
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

test: venv localcluster test-deps lint
	$(BIN)/pytest $(PYTEST_ARGS)

# Speed is measured here, never asserted in tests. Results: bench/results/.
bench: venv localcluster
	$(BIN)/python bench/gateway_bench.py
	$(BIN)/python bench/operator_idle.py

demo: venv localcluster
	$(BIN)/python tools/demo.py

# The chart carries a copy of crds/ (a test fails when they differ).
chart-crds:
	rm -f charts/gatepass/files/crds/*.yaml && cp crds/*.yaml charts/gatepass/files/crds/

# Loads into the node of `make cluster-up` when one runs; builds only otherwise.
image:
	@$(PYTHON) tools/image.py load .localcluster

cluster-up: localcluster
	@$(LC) up .localcluster

cluster-down:
	@$(LC) down .localcluster

clean: cluster-down
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
