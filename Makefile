# SciFiKPI backend: the entry points a person uses. `make` alone lists them.
# Everything runs through uv from the repository root (Python 3.11, one lock file).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# uv, else the `uv` module of the system Python (installed on demand by the `uv` target)
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PYTEST_ARGS ?=
STACK_ARGS ?=

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: uv
uv: # make sure uv runs (a machine with nothing but Python gets it from PyPI with pip)
	@$(UV) --version >/dev/null 2>&1 || { \
		echo "uv not found: installing it with pip"; \
		python3 -m pip install --user uv || python3 -m pip install --user --break-system-packages uv; }

.PHONY: sync
sync: uv ## Install every workspace package and the dev tools from uv.lock
	$(UV) sync --all-packages --frozen

.PHONY: run
run: uv ## Start the whole stack locally (Postgres, broker, migrations, services); Ctrl-C stops it
	$(UV) sync --all-packages
	$(UV) run scifikpi-stack $(STACK_ARGS)

.PHONY: ledger-check
ledger-check: uv ## Ledger invariants of the running `make run` stack (ledger-admin check; exit 1 names offenders)
	@test -f .local/stack.env || { echo "no running stack (.local/stack.env): start \`make run\` first"; exit 2; }
	@set -a && . ./.local/stack.env && set +a && $(UV) run ledger-admin check

.PHONY: test
test: sync ## Unit, integration and e2e tests (starts Postgres/broker/stack when not given)
	$(UV) run pytest $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: sync ## Only the black-box tests through the gateway (E2E_GATEWAY_URL = use a running stack)
	$(UV) run pytest tests/e2e $(PYTEST_ARGS)

.PHONY: bench
bench: sync ## Benchmarks: gateway, login, webhooks, ledger postings vs pgbench, mining chain, NFT minting and saga, analytics ingest/queries/freshness (prints figures)
	@command -v wrk >/dev/null 2>&1 || { echo "wrk not found: installing it (Debian package)"; \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null; }; \
		else echo "run: sudo apt-get install wrk"; fi; }
	$(UV) run python -m scifikpi_tools.bench.gateway
	$(UV) run python -m scifikpi_tools.bench.hot_reads
	$(UV) run python services/auth/benchmarks/login.py
	$(UV) run python services/payments/benchmarks/webhooks.py
	$(UV) run python services/ledger/benchmarks/postings.py
	$(UV) run python -m scifikpi_tools.bench.cabinet
	$(UV) run python services/nft/benchmarks/minting.py
	$(UV) run python -m scifikpi_tools.bench.nft
	$(UV) run python -m scifikpi_tools.bench.freshness
# analytics: every script in services/analytics/benchmarks/ (ingest, queries; `_*.py` helpers)
	@for script in services/analytics/benchmarks/[!_]*.py; do \
		echo "$(UV) run python $$script"; $(UV) run python $$script || exit 1; done

FUZZ_ARGS ?=

.PHONY: fuzz
fuzz: sync ## Fuzz the API through the gateway (schemathesis, as a user and an admin) on a fresh stack; FUZZ_ARGS="--running" for the `make run` stack, "--url URL", "--examples N"
	$(UV) run python -m scifikpi_tools.fuzz $(FUZZ_ARGS)

LOAD_ARGS ?=

.PHONY: load
load: sync ## Stepped load test (locust, the frontend's users) on a fresh stack; writes a capacity report (HTML, PNG) under .local/load/; LOAD_ARGS="--running" for the `make run` stack, "--url URL"
	$(UV) run python -m scifikpi_tools.load $(LOAD_ARGS)

CHAOS_ARGS ?=

.PHONY: chaos
chaos: sync ## Chaos suite on a fresh stack: flows run while processes are SIGKILLed, Postgres restarts, the broker is lost; books checked after each; CHAOS_ARGS="--short" for the CI variant
	$(UV) run python -m scifikpi_tools.chaos $(CHAOS_ARGS)

RESTORE_ARGS ?=

.PHONY: restore-drill
restore-drill: sync ## Backup + point-in-time restore drill (barman-cloud to a moto S3, its own PostgreSQL 15, the whole stack on it): prints RPO/RTO; RESTORE_ARGS="--users 3 --keep"
	$(UV) run python -m scifikpi_tools.restore $(RESTORE_ARGS)

.PHONY: lint
lint: sync ## ruff (lint and format check), the import-linter contracts, mypy (the strict set in pyproject.toml)
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports
	$(UV) run --frozen mypy

.PHONY: format
format: ## Format the code with ruff
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

.PHONY: compose-check
compose-check: uv ## Validate docker-compose.yml against the compose-spec schema (no Docker needed)
	$(UV) run check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

.PHONY: broker
broker: uv ## Run only the Tansu broker in the foreground (prints KAFKA_BOOTSTRAP_SERVERS)
	$(UV) run python -m scifikpi_tools.broker

.PHONY: clean
clean: ## Stop a leftover embedded Postgres and remove local state (.local/) and caches
	@if [ -f .local/pgdata/postmaster.pid ] && [ -x .venv/bin/python ]; then \
		.venv/bin/python -m scifikpi_tools.stack --stop-postgres; fi
	rm -rf .local .pytest_cache .ruff_cache .hypothesis .import_linter_cache .mypy_cache
	find . -path ./.venv -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
