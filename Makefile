# Every workflow of the project. Needs only a Python >= 3.11 on PATH: the first target that
# needs them creates .venv and installs the project with its dev extras.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TOOLS  := .tools
HELM   := $(TOOLS)/helm
# A real control plane for the integration tests' second tier (envtest's convention: the
# folder KUBEBUILDER_ASSETS names). Prepared from ../shared/k8s when that folder exists;
# otherwise set KUBEBUILDER_ASSETS yourself (see README), or the real tier is skipped.
K8S_VERSION := 1.28.7
K8S_SOURCE  := ../shared/k8s/v$(K8S_VERSION)
K8S_ASSETS  := $(TOOLS)/k8s/$(K8S_VERSION)
ifeq ($(KUBEBUILDER_ASSETS),)
ifneq ($(wildcard $(K8S_SOURCE)),)
export KUBEBUILDER_ASSETS := $(abspath $(K8S_ASSETS))
endif
endif
# Python sources that lint covers (bench/ joins once it holds code).
SOURCES := operator tests $(wildcard bench/*.py)

.PHONY: help install test unit integration lint format crds bench demo chart-check tools control-plane browser real-node clean

help:
	@echo "make demo     - run Kubatch on its embedded default and the examples (no cluster needed)"
	@echo "make test     - create .venv if needed, install, run the whole test suite (both tiers)"
	@echo "make control-plane - prepare the real control plane's binaries (KUBEBUILDER_ASSETS)"
	@echo "make browser  - install Chromium for the console's browser tests (Debian's package)"
	@echo "make real-node - install what a real node needs (containerd, runc, CNI; Debian's packages)"
	@echo "make lint     - ruff check, ruff format --check, mypy --strict"
	@echo "make format   - apply ruff's fixes and formatting"
	@echo "make crds     - regenerate crds/ (and the chart's copy) from the pydantic models"
	@echo "make chart-check - helm lint and template the chart, validate what it renders"
	@echo "make bench    - run the benchmarks (each prints one JSON line)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(HELM): | $(STAMP)
	$(BIN)/python scripts/fetch_tools.py $(TOOLS)

tools: $(HELM)

control-plane: $(STAMP)
	$(BIN)/python -m kubatch.sim.controlplane prepare $(K8S_SOURCE) $(K8S_ASSETS)

# Headless Chromium for the web console's browser tests: Debian's package (Playwright's own
# browser download does not work offline). Needs root and apt; elsewhere install Chromium
# yourself (KUBATCH_CHROMIUM names it) or the browser tests skip.
browser:
	@if command -v chromium >/dev/null 2>&1 || [ -n "$$KUBATCH_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests..."; \
		DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; \
	else echo "no Chromium here: the console's browser tests will skip (see make browser)"; fi

# A real node for the real-node test tier: containerd, runc, the CNI plugins and busybox-static
# from Debian's packages (root and apt only; elsewhere that tier is skipped with the reason).
real-node: $(STAMP)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		$(BIN)/python -m kubatch.sim.node install; \
	else echo "not root with apt: the real-node tests will skip (see make real-node)"; fi

# Two workers, each tier's tests on one (tests/conftest.py); TEST_WORKERS=0 runs them in this
# process, one after another.
TEST_WORKERS ?= 2
test: $(STAMP) $(HELM) control-plane browser real-node
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

integration: $(STAMP) $(HELM) control-plane
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/mypy --strict $(SOURCES)
	# The code's shape: the layers, one owner per structure, every fact once, the map.
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_architecture.py \
		tests/unit/test_one_source_per_fact.py tests/unit/test_architecture_doc.py

format: $(STAMP)
	$(BIN)/ruff check --fix $(SOURCES)
	$(BIN)/ruff format $(SOURCES)

crds: $(STAMP)
	$(BIN)/python -m kubatch.api.crdgen crds helm/kubatch/crds

chart-check: $(STAMP) $(HELM) control-plane
	$(BIN)/python -m pytest tests/chart $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/kubatch dev --examples examples $(DEMO_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.lifecycle_array
	$(BIN)/python -m bench.scheduler_pass
	$(BIN)/python -m bench.operator_throughput 2000
	$(BIN)/python -m bench.operator_throughput 500 --real
	$(BIN)/python -m bench.scale 10000
	$(BIN)/python -m bench.million 100000
	$(BIN)/python -m bench.million 1000 --arrays 100
	$(BIN)/python -m bench.restart 20000
	$(BIN)/python -m bench.submit_burst 2000
	$(BIN)/python -m bench.console_pages 10000
	$(BIN)/python -m bench.node_latency 20

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache .hypothesis
