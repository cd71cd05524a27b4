# foleyflow: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
OUT   ?= demo-output

.PHONY: env demo test bench bench-generation lock clean-env help

help:
	@echo "make demo   build the demo silent film and run the collection flow on it"
	@echo "make test   run the test suite"
	@echo "make bench  run the benchmarks in bench/ (figures for the README)"
	@echo "make bench-generation  evaluate the sound generator (needs the corpus and weights)"

env:
	@infra/bootstrap.sh

demo: env
	$(VENV)/bin/foleyflow demo --out $(OUT)

test: env
	$(PY) -m pytest

bench: env
	$(PY) bench/bench_shots.py
	$(PY) bench/bench_clean.py
	$(PY) bench/bench_memory.py
	$(PY) bench/bench_timing.py

# The generator's evaluation: needs the training corpus (foleyflow corpus build) and trained weights.
bench-generation: env
	$(PY) bench/bench_generation.py

# Re-resolve the dependencies of pyproject.toml into requirements.lock.
lock:
	rm -rf .lock-venv && python3 -m venv .lock-venv
	.lock-venv/bin/pip install -q "pip==25.3" && .lock-venv/bin/pip install -q -e . fastapi==0.139.* torch==2.9.1 torchaudio==2.9.1 torchcodec==0.9.1
	@echo "review, then copy into requirements.lock:"; .lock-venv/bin/pip freeze --all | grep -v -e '^-e' -e '^foleyflow' -e '^wheel'

clean-env:
	rm -rf $(VENV)
