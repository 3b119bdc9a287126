# Siyakha: `make run` serves the demo; `make test` runs the whole suite. Both work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help install i18n i18n-compile i18n-check run lint typecheck test test-sqlite test-postgres bench clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## create .venv and install Siyakha with its dev tools

i18n: install ## extract messages.pot, update every catalog, compile
	$(PY) -m bot.i18n_tools extract
	$(PY) -m bot.i18n_tools update
	$(PY) -m bot.i18n_tools compile

i18n-compile: install ## compile the .po catalogs to .mo (never committed)
	$(PY) -m bot.i18n_tools compile

i18n-check: install ## fail on a stale messages.pot, a broken catalog or a placeholder mismatch
	$(PY) -m bot.i18n_tools check

run: install i18n-compile ## migrate, load the demo if empty, serve on http://$(HOST):$(PORT) with the worker
	SIYAKHA_ENV=dev $(BIN)/siyakha db upgrade
	SIYAKHA_ENV=dev $(BIN)/siyakha demo --if-empty
	SIYAKHA_ENV=dev $(BIN)/siyakha dev --host $(HOST) --port $(PORT)

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy
	$(BIN)/mypy

test-sqlite: install i18n-compile ## pytest on SQLite
	$(PY) -m pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

test-postgres: install i18n-compile ## pytest on PostgreSQL (throwaway databases; skipped with a notice if no server)
	$(PY) scripts/test_postgres.py -n $(PYTEST_WORKERS) -p no:cacheprovider

test: lint typecheck i18n-check test-sqlite test-postgres ## lint, types, catalogs, tests on SQLite and PostgreSQL

bench: install i18n-compile ## run the benchmarks (not part of the test run)
	$(PY) bench/webhook.py
	$(PY) bench/webhook.py --database postgresql://postgres@127.0.0.1:5432/postgres
	$(PY) bench/turn_db.py
	$(PY) bench/outbox.py
	$(PY) bench/broadcast.py
	$(PY) bench/retention.py

clean: ## remove the venv, caches and the demo database
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache siyakha.db siyakha.db-wal siyakha.db-shm siyakha.db.scheduler.lock
	find locales -name '*.mo' -delete
