# The two commands: `make run` (try it) and `make test` (the whole suite). Needs Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint check clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/alerts db upgrade
	$(BIN)/alerts users add admin --role admin --display-name 管理员 --if-missing
	$(BIN)/alerts recipients import config/demo/residents.csv
	$(BIN)/alerts people import config/demo/people.csv
	$(BIN)/alerts serve

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n auto

lint: $(VENV)/.installed-test
	$(BIN)/ruff check alerts tests bench

check: $(VENV)/.installed
	$(BIN)/alerts check

clean:
	rm -rf $(VENV) var .pytest_cache
