# `make run` starts the whole service; `make test` runs the tests. Both build .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench-ingest bench-deliveries bench-queue bench-flows bench-latency bench-dashboard bench-purge clean

run: $(VENV)/.runtime-installed
	$(BIN)/python -m hookyard.devserver

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the pinned requirements change.
$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

clean:
	rm -rf $(VENV) var .pytest_cache

# Benchmarks (need wrk: apt-get install wrk). Each prints its numbers and ratios to a baseline run alongside.
bench-ingest: $(VENV)/.runtime-installed
	$(BIN)/python bench/ingest.py

bench-deliveries: $(VENV)/.runtime-installed
	$(BIN)/python bench/deliveries.py

bench-queue: $(VENV)/.runtime-installed
	$(BIN)/python bench/signal_queue.py

bench-dashboard: $(VENV)/.runtime-installed
	$(BIN)/python bench/dashboard.py

bench-flows: $(VENV)/.runtime-installed
	$(BIN)/python bench/flows.py

bench-latency: $(VENV)/.runtime-installed
	$(BIN)/python bench/latency.py

bench-purge: $(VENV)/.runtime-installed
	$(BIN)/python bench/purge.py
