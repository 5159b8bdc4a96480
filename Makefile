# gatepass — the two front doors are `make demo` and `make test`.
# Everything they need is installed here: a virtualenv from PyPI, and the
# Kubernetes control plane + helm built from Go modules (cached in ~/.cache/gatepass).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# uv installs exactly what uv.lock pins (runtime and dev); its own version is
# pyproject's [tool.uv] required-version, installed once into .uv/ by pip.
UV_VERSION := $(shell sed -n 's/^required-version = "==\(.*\)"/\1/p' pyproject.toml)
UV     := .uv/$(UV_VERSION)/bin/uv
# (gatepass/__init__.py holds the version: the editable install's metadata follows it)
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml uv.lock operator/gatepass/__init__.py | sha256sum | cut -c1-12)
LC     := $(PYTHON) tools/localcluster/localcluster.py
PYTEST_ARGS ?=
export UV_PYTHON_DOWNLOADS := never

.PHONY: help venv lock upgrade localcluster image test-deps chart-crds bench bench-memory lint test soak ingress-test unit e2e demo cluster-up cluster-down clean \
        actionlint version-check bump release-notes chart-package chart-push image-docker image-publish image-sign kind-e2e

help:
	@echo "make demo          run the service-token story on a local control plane"
	@echo "make test          lint, type-check, unit and end-to-end tests (builds what it needs)"
	@echo "make soak          the long fault runs: outage, rollouts under load, upgrade from the last release"
	@echo "make bench         gatepass beside oauth2-proxy and nginx, revocation, operator and gateway at scale (bench/README.md)"
	@echo "make bench-memory  the gateway's memory at 100,000 tokens, 10,000 ServiceAccounts and pods (~40 min)"
	@echo "make cluster-up    start the local control plane and node in the background (.localcluster/)"
	@echo "                   (GATEPASS_NODE=0: the control plane alone, no pods)"
	@echo "                   (INGRESS=traefik: and Traefik, its CRD and Gateway API providers)"
	@echo "make image         build the image from Dockerfile (buildah) and load it into that node"
	@echo "make ingress-test  gatepass as Traefik's forward-auth, in pods"
	@echo "make cluster-down  stop it"
	@echo "make upgrade       move every locked dependency to its newest allowed version (uv.lock)"

$(UV):
	rm -rf .uv && $(PYTHON) -m venv .uv/$(UV_VERSION)
	.uv/$(UV_VERSION)/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)

# --locked: fail, never re-resolve, when uv.lock does not match pyproject.toml.
$(STAMP): $(UV)
	rm -f $(VENV)/.installed-*
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --python $(PYTHON)
	touch $@

venv: $(STAMP)

# After editing dependencies in pyproject.toml: record them in uv.lock.
lock: $(UV)
	$(UV) lock --python $(PYTHON)

# The one command that upgrades every dependency (then review, test, commit uv.lock).
upgrade: $(UV)
	$(UV) lock --upgrade --python $(PYTHON)

localcluster:
	@$(LC) build >/dev/null

# nginx and Caddy, for the forward-auth tests (auth_request, forward_auth). Installed
# from Debian when missing and we are root; otherwise those tests say why they skip.
test-deps:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing nginx-light (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null \
	      && { service nginx stop >/dev/null 2>&1 || true; }; \
	  else echo "nginx missing and not root: the forward-auth test will skip"; fi; }
	@command -v caddy >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing caddy (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq caddy >/dev/null \
	      && { service caddy stop >/dev/null 2>&1 || true; }; \
	  else echo "caddy missing and not root: the Caddy forward-auth test will skip"; fi; }

lint: venv actionlint version-check
	$(BIN)/ruff check operator tests tools bench
	$(BIN)/ruff format --check operator tests tools bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

e2e: venv localcluster test-deps
	$(BIN)/pytest -m "not ingress" tests/e2e $(PYTEST_ARGS)

test: venv localcluster test-deps lint
	$(BIN)/pytest -m "not soak and not ingress" $(PYTEST_ARGS)

# Long fault runs (an API server away for a minute, rollouts under load, the upgrade from the
# last release): minutes each, so apart from `make test`; CI runs both.
soak: venv localcluster test-deps
	$(BIN)/pytest -m soak $(PYTEST_ARGS)

# gatepass behind a real ingress controller in pods (Traefik's forward-auth): apart from
# `make test` for now, the first Traefik build taking ~10 min.
ingress-test: venv localcluster
	$(BIN)/pytest -m ingress tests/e2e/test_traefik.py $(PYTEST_ARGS)

# Speed is measured here, never asserted in tests. Results: bench/results/.
bench: venv localcluster
	$(BIN)/python bench/peers.py
	$(BIN)/python bench/revocation.py
	$(BIN)/python bench/operator_scale.py
	$(BIN)/python bench/gateway_scale.py

# The gateway's memory at 100,000 tokens, 10,000 ServiceAccounts and pods: apart from
# `make bench`, whose 20 minutes it would break (creating the objects takes ~35 min here).
bench-memory: venv localcluster
	$(BIN)/python bench/gateway_memory.py

demo: venv localcluster
	$(BIN)/python tools/demo.py

# The chart carries a copy of crds/ (a test fails when they differ).
chart-crds:
	rm -f charts/gatepass/files/crds/*.yaml && cp crds/*.yaml charts/gatepass/files/crds/

# Loads into the node of `make cluster-up` when one runs; builds only otherwise.
image:
	@$(PYTHON) tools/image.py load .localcluster

# INGRESS=traefik: Traefik too (tools/ingress/traefik.py; its first build takes minutes).
INGRESS ?=
cluster-up: localcluster
	@$(LC) up .localcluster
	@case "$(INGRESS)" in "") ;; traefik) $(PYTHON) tools/ingress/traefik.py up .localcluster ;; \
	  *) echo "INGRESS=$(INGRESS): only traefik is known"; exit 2 ;; esac

cluster-down:
	@$(LC) down .localcluster

clean: cluster-down
	rm -rf $(VENV) .uv dist .mypy_cache .ruff_cache .pytest_cache .hypothesis

# ---------------------------------------------------------------------------
# Releases. .github/workflows/ runs these targets and nothing else of its own,
# so each step can be tried here (those that need Docker, a registry or cosign
# only where they exist: GitHub's runners).

VERSION   = $(shell $(PYTHON) tools/release.py check)
# The published image; a fork's release.yml passes ghcr.io/<its owner>/gatepass.
IMAGE_REPOSITORY ?= $(shell sed -n 's/^IMAGE_REPOSITORY = "\(.*\)"/\1/p' operator/gatepass/__init__.py)
IMAGE      = $(IMAGE_REPOSITORY):$(VERSION)
PLATFORMS ?= linux/amd64,linux/arm64
CHART_REGISTRY ?= oci://$(patsubst %/gatepass,%,$(IMAGE_REPOSITORY))/charts
HELM       = $(or $(shell command -v helm 2>/dev/null),$(shell $(LC) build)/helm)
ACTIONLINT_VERSION := v1.7.12
ACTIONLINT := $(HOME)/.cache/gatepass/tools/actionlint-$(ACTIONLINT_VERSION)/actionlint
KIND_VERSION ?= v0.30.0
DIST      ?= dist

# The workflows, checked here since they cannot run here (shellcheck checks their run: steps).
$(ACTIONLINT):
	GOBIN=$(dir $@) GOFLAGS=-mod=mod go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

actionlint: $(ACTIONLINT) venv
	PATH=$(CURDIR)/$(BIN):$$PATH $(ACTIONLINT) -no-color

# Package, chart and image agree on one version (TAG=v1.2.3: and the tag names it).
version-check:
	@$(PYTHON) tools/release.py check $(TAG) >/dev/null

bump:
	@test -n "$(NEW)" || { echo "usage: make bump NEW=x.y.z"; exit 2; }
	$(PYTHON) tools/release.py bump $(NEW)

release-notes:
	@$(PYTHON) tools/release.py notes $(VERSION)

# The chart as released: its default image is IMAGE_REPOSITORY ($(DIST)/gatepass-<version>.tgz).
chart-package: version-check
	rm -rf $(DIST)/chart && mkdir -p $(DIST)/chart && cp -r charts/gatepass $(DIST)/chart/
	sed -i 's|^  repository: .*|  repository: $(IMAGE_REPOSITORY)|' $(DIST)/chart/gatepass/values.yaml
	$(HELM) lint $(DIST)/chart/gatepass
	$(HELM) package $(DIST)/chart/gatepass --destination $(DIST)

chart-push: chart-package
	$(HELM) push $(DIST)/gatepass-$(VERSION).tgz $(CHART_REGISTRY)

# The image by Docker, for one platform into the local engine (CI's kind job)...
image-docker:
	docker build --tag $(IMAGE) .

# ...or for every platform, pushed with an SBOM and provenance attached (release.yml).
image-publish: version-check
	mkdir -p $(DIST)
	docker buildx build --platform $(PLATFORMS) --tag $(IMAGE) --sbom=true --provenance=mode=max \
	  --metadata-file $(DIST)/image.json --push .

# cosign keyless (the workflow's OIDC identity): signs the pushed digest, never a tag.
image-sign:
	cosign sign --yes $(IMAGE_REPOSITORY)@$$($(PYTHON) -c 'import json; print(json.load(open("$(DIST)/image.json"))["containerimage.digest"])')

# The end-to-end suite on kind (pytest-kind) with the docker-built image loaded into it.
# The chart-on-kind test runs in a session of its own: its operator serves every namespace.
kind-e2e: venv image-docker
	KIND_VERSION=$(KIND_VERSION) GATEPASS_TEST_CLUSTER=kind GATEPASS_TEST_IMAGE=$(IMAGE) \
	  $(BIN)/pytest tests/e2e/test_published_image.py $(PYTEST_ARGS)
	KIND_VERSION=$(KIND_VERSION) GATEPASS_TEST_CLUSTER=kind GATEPASS_TEST_IMAGE=$(IMAGE) \
	  $(BIN)/pytest tests/e2e --ignore=tests/e2e/test_published_image.py $(PYTEST_ARGS)
