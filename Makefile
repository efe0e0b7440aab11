# beam-jobs: `make demo` runs the main job on a demo store, `make test` runs
# the whole suite, `make bench` the benchmark (BENCH_ARGS=--quick for
# N=10,000 only). demo and test create and reuse the virtualenv in .venv,
# bench its own in .venv-bench (see below).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BENCH_VENV := .venv-bench
BENCH_INSTALLED := $(BENCH_VENV)/.installed
BENCH_ARGS ?=
STORE ?= .data/beam_jobs.sqlite3
# The Datastore demo's store: a project of the emulator, which accepts any.
DATASTORE_STORE ?= datastore://beam-jobs-demo
DATAFLOW_OPTIONS ?= --runner DataflowRunner --project beam-jobs-demo \
	--region us-central1 --temp_location gs://beam-jobs-demo-bucket/tmp

.PHONY: demo test serve demo-datastore dataflow-dry-run bench clean

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

# The admin page on the demo store (seeded if it is not there yet); it
# prints the URL to open, token included. The browser tests of `make test`
# need Debian's chromium and chromium-driver (apt-get install).
serve: $(INSTALLED)
	test -f $(STORE) || $(BIN)/python run_pipeline.py --store $(STORE) seed-demo --explorations 200 --users 500
	$(BIN)/python run_pipeline.py --store $(STORE) serve

# Starts the Cloud Datastore emulator, seeds it, runs the main job on it,
# prints the output and stops the emulator.
demo-datastore: $(INSTALLED)
	$(BIN)/python -m beam_jobs.datastore_emulator --project beam-jobs-demo -- \
	  sh -c '$(BIN)/python run_pipeline.py --store $(DATASTORE_STORE) seed-demo \
	    --explorations 200 --users 500 && \
	  $(BIN)/python run_pipeline.py --store $(DATASTORE_STORE) \
	    run InteractionAuditOneOffJob'

# Builds the main job for Dataflow without submitting it (Beam's dry run,
# offline) and prints what would be submitted.
dataflow-dry-run: $(INSTALLED)
	$(BIN)/python -m beam_jobs.datastore_emulator --project beam-jobs-demo -- \
	  $(BIN)/python run_pipeline.py --store $(DATASTORE_STORE) \
	    run InteractionAuditOneOffJob $(DATAFLOW_OPTIONS) --dry_run=True

# The benchmark (docs/benchmarks.md) has a virtualenv of its own, with
# mrjob, orjson and psutil (the 'bench' extra) and without the gcp extra: a
# local install, as a user who does not run on Google Cloud has it (with
# the Google Cloud clients installed, every import of Beam loads them).
# make bench BENCH_ARGS=--quick runs N = 10,000 only; BENCH_ARGS takes any
# option of python -m benchmarks.run (--sizes, --variants, --baseline,
# --save-baseline, ...).
$(BENCH_INSTALLED): setup.py Makefile
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -e '.[bench]'
	touch $(BENCH_INSTALLED)

bench: $(BENCH_INSTALLED)
	$(BENCH_VENV)/bin/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) .data .pytest_cache
