# musiclake: two commands on a fresh machine (Python 3.11, Java 17): `make demo`, `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-unit test-e2e serve lake-tables mlflow-ui bench-ingest bench-lake bench-train clean

setup: $(STAMP)

# torch goes in first as the CPU build (2.13.0 lies on local disk here); the project's range accepts it.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/musiclake demo

test: setup
	$(VENV)/bin/pytest -q

test-unit: setup
	$(VENV)/bin/pytest -q tests/unit

test-e2e: setup
	$(VENV)/bin/pytest -q tests/integration

serve: setup
	$(VENV)/bin/musiclake serve

lake-tables: setup
	$(VENV)/bin/musiclake lake tables

mlflow-ui: setup
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///data/mlflow.db --host 127.0.0.1 --port 5000

# Benchmarks print figures (never timed tests); see docs/benchmarks.md.
bench-ingest: setup
	$(PY) -m ingest.bench

bench-lake: setup
	$(PY) -m lake.bench

bench-train: setup
	$(PY) -m training.bench

clean:
	rm -rf data out
