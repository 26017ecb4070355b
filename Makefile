# Two commands on a fresh clone: `make demo` and `make test`. Nothing but python3 and make is assumed.

VENV := .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
SOURCES := actors fleet storage tests benchmarks
DEMO_SECONDS ?= 60

.PHONY: demo test check lint typecheck benchmark clean

demo: $(INSTALLED)
	$(VENV)/bin/ocpp-fleet demo examples/demo.toml --duration $(DEMO_SECONDS)

test: check
	$(PYTHON) -m pytest

check: lint typecheck

lint: $(INSTALLED)
	$(VENV)/bin/ruff check $(SOURCES)
	$(VENV)/bin/ruff format --check $(SOURCES)

typecheck: $(INSTALLED)
	$(VENV)/bin/mypy

benchmark: $(INSTALLED)
	$(PYTHON) benchmarks/codec.py

$(INSTALLED): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
