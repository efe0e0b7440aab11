# beam-jobs: `make demo` runs the main job on a demo store, `make test` runs
# the whole suite, `make bench` the benchmark (BENCH_ARGS=--quick for
# N=10,000 only). All create and reuse the virtualenv in .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BENCH_INSTALLED := $(VENV)/.bench-installed
BENCH_ARGS ?=
STORE ?= .data/beam_jobs.sqlite3

.PHONY: demo test bench clean

$(INSTALLED): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/python run_pipeline.py --store $(STORE) seed-demo --explorations 200 --users 500
	$(BIN)/python run_pipeline.py --store $(STORE) run InteractionAuditOneOffJob

test: $(INSTALLED)
	$(BIN)/python -m pytest

# mrjob and psutil are installed for the benchmark only (the 'bench' extra).
$(BENCH_INSTALLED): $(INSTALLED) setup.py
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_INSTALLED)

bench: $(BENCH_INSTALLED)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .data .pytest_cache
