# beam-jobs: `make demo` runs the main job on a demo store, `make test` runs
# the whole suite. Both create and reuse the virtualenv in .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
STORE ?= .data/beam_jobs.sqlite3

.PHONY: demo test clean

$(INSTALLED): setup.py Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,gcp]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/python run_pipeline.py --store $(STORE) seed-demo --explorations 200 --users 500
	$(BIN)/python run_pipeline.py --store $(STORE) run InteractionAuditOneOffJob

test: $(INSTALLED)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .data .pytest_cache
