# texpipe: `make demo` runs the whole pipeline on the corpus, `make test` runs every test.
# Both set up a fresh machine of this kind first (Debian 12, Python 3.11, root or sudo).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_VERSION := 3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
MEMBERS := contracts libs/servicekit libs/testing services/api services/compiler services/applier clients/cli
SRC := $(foreach m,$(MEMBERS),$(m)/src)
export UV_PYTHON_DOWNLOADS := never

# The TeX installation is one list, shared with the compiler's image (services/compiler/texlive/).
TEXLIVE_PACKAGES := $(shell grep -v '^\#' services/compiler/texlive/debian-packages.txt)
APT_PACKAGES := $(TEXLIVE_PACKAGES) bubblewrap libseccomp2 poppler-utils python3
# What only the tests need (the browser test's chromium): tests/debian-packages.txt.
TEST_APT_PACKAGES := $(shell grep -v '^\#' tests/debian-packages.txt)

# apt-get install the packages of $(1) that are not installed yet (root or sudo).
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.PHONY: system-deps
system-deps: ## Debian packages: the full TeX Live without docs, bubblewrap (only when missing)
	$(call apt_install,$(APT_PACKAGES))

.PHONY: test-deps
test-deps: ## Debian packages only the tests need: chromium for the browser test (only when missing)
	$(call apt_install,$(TEST_APT_PACKAGES))

$(UV):
	python$(PYTHON_VERSION) -m pip install --quiet --user uv || python3 -m pip install --quiet uv

.PHONY: venv
venv: $(UV) ## the virtualenv with exactly the locked versions and the workspace members
	@[ -x $(PY) ] || $(UV) venv --quiet --python $(PYTHON_VERSION) $(VENV)
	$(UV) pip sync --quiet --python $(PY) requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps $(foreach m,$(MEMBERS),-e $(m))

.PHONY: lock
lock: $(UV) ## re-resolve and write requirements.lock (versions and hashes, no index hosts)
	$(UV) lock
	$(UV) export --frozen --all-packages --all-groups --no-emit-workspace --no-header --quiet -o requirements.lock

.PHONY: contracts
contracts: venv ## regenerate the committed JSON Schemas and AsyncAPI document
	$(PY) -m texpipe_contracts.schema_gen contracts

.PHONY: lint
lint: venv ## ruff, import rules, committed contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m texpipe_contracts.schema_gen --check contracts
	bash scripts/lint-delivery.sh

.PHONY: typecheck
typecheck: venv ## mypy --strict over every package
	$(VENV)/bin/mypy $(SRC)

.PHONY: test
test: system-deps test-deps venv tectonic font-cache ## set up what is missing, then run the whole suite against real servers
	$(VENV)/bin/pytest -q --durations=15

CHAOS_SCALE ?= 5

.PHONY: chaos
chaos: system-deps venv ## the fault scenarios of tests/e2e/test_e2e_faults.py with batches x CHAOS_SCALE, then their table
	@table=$$(mktemp); status=0; \
	TEXPIPE_CHAOS_SCALE=$(CHAOS_SCALE) TEXPIPE_CHAOS_TABLE=$$table \
	  $(VENV)/bin/pytest -q tests/e2e/test_e2e_faults.py || status=$$?; \
	echo; cat $$table; rm -f $$table; exit $$status

.PHONY: tectonic
tectonic: venv ## Tectonic offline: static binary, bundle from the installed TeX Live, format (.tools/tectonic)
	$(PY) services/compiler/scripts/install_tectonic.py --dest .tools/tectonic --uv $(UV)

.PHONY: font-cache
font-cache: venv ## the compiler's font databases (luaotfload, fontconfig) for the installed fonts (.tools/font-cache)
	$(PY) -m texpipe_compiler.font_cache .tools/font-cache

CORPUS ?= ../shared/corpus ../shared/corpus-real
COMPILE_TIMEOUT_MS ?= 20000

.PHONY: up
up: system-deps venv tectonic font-cache ## start RabbitMQ/PostgreSQL if stopped, SeaweedFS, api, compiler, applier
	$(PY) -m texpipe_testing.stack up run --compile-timeout-ms $(COMPILE_TIMEOUT_MS)

.PHONY: down
down: ## stop what 'make up' started, and only that
	@[ -x $(PY) ] && $(PY) -m texpipe_testing.stack down run || echo "nothing to stop"

.PHONY: demo
demo: up ## compile every document of both corpora through the api and print a table
	$(PY) -m texpipe_testing.demo $(CORPUS)

.PHONY: bench
bench: up ## end-to-end latency against raw latexmk (the stack of 'make up'); see bench/README.md
	$(PY) bench/e2e_latency.py --corpus ../shared/corpus --runs 20

BENCH_EDIT_ARGS ?=

.PHONY: bench-edit
bench-edit: up ## edit-recompile latency against fresh and warm latexmk, and a burst's cost (BENCH_EDIT_ARGS=--quick); see bench/README.md
	$(PY) bench/edit_recompile.py --corpus ../shared/corpus $(BENCH_EDIT_ARGS)

.PHONY: images
images: venv ## build the three images with podman from a local Debian base, then run-check them
	bash scripts/images/build.sh

.PHONY: clean
clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
