# Two commands on a fresh machine with Python 3.11+ and make:
#   make demo   - set up, serve the shipped sample site on 127.0.0.1 and crawl it
#   make test   - set up and run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# flows/, tasks/ and blocks/ install as quarrycore.flows, quarrycore.tasks and
# quarrycore.blocks (pyproject.toml's package-dir). mypy and import-linter read packages
# from the file tree, not through the installed mapping: give them the tree as installed.
TREE := build/installed-tree

.PHONY: setup demo test test-fast lint installed-tree clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/quarry demo

test: $(STAMP)
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest tests/unit

installed-tree:
	rm -rf $(TREE) && mkdir -p $(TREE)
	cp -r quarrycore $(TREE)/quarrycore
	cp -r flows $(TREE)/quarrycore/flows
	cp -r tasks $(TREE)/quarrycore/tasks
	cp -r blocks $(TREE)/quarrycore/blocks

lint: $(STAMP) installed-tree
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd $(TREE) && PYTHONPATH=. ../../$(BIN)/lint-imports ../../pyproject.toml

clean:
	rm -rf $(VENV) build .quarry quarry.db* dead_letter.db* checkpoints
