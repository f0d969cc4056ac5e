# One command to serve, one to test. Everything else is set up on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
# What is installed, each from its lock file: the runtime for `make run`, the development
# tools on top of it for `make test`, `make lint` and the rest.
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
DOCS := $(VENV)/.installed-docs
LOCK := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" --quiet

.PHONY: run stop test lint format typecheck openapi lock docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Reinstalled only when a lock file or the package's own metadata changes.
$(RUNTIME): requirements.lock pyproject.toml | $(BIN)/python
	@echo "Installing the runtime dependencies pinned in requirements.lock"
	$(PIP) install --require-hashes -r requirements.lock
	$(PIP) install --no-deps -e .
	touch $@

$(DEV): requirements-dev.lock $(RUNTIME)
	@echo "Installing the development tools pinned in requirements-dev.lock"
	$(PIP) install --require-hashes -r requirements-dev.lock
	touch $@

# MkDocs and its theme (the docs extra), on top of the runtime, whose pins they leave alone.
$(DOCS): pyproject.toml $(RUNTIME)
	$(PIP) install --quiet -e '.[docs]'
	touch $@

run: $(RUNTIME)
	$(BIN)/testimony serve --setup

# Stop the embedded PostgreSQL now (it also stops when the last process using it exits).
stop: $(RUNTIME)
	$(BIN)/testimony db stop

test: $(DEV)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(DEV)
	$(BIN)/mypy app

openapi: $(RUNTIME)
	$(BIN)/testimony openapi

# Pin the newest versions that pyproject.toml allows, for every platform: the development set
# first, and the runtime to the same versions, so that tests run what `make run` serves with.
lock: $(DEV)
	$(LOCK) --extra dev -o requirements-dev.lock
	$(LOCK) --constraints requirements-dev.lock -o requirements.lock

# The documentation site from docs/, into site/; no network needed once installed.
docs: $(DOCS)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf site $(VENV) .pytest_cache .mypy_cache .ruff_cache
