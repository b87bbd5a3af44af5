# The two commands a fresh clone needs: `make serve` and `make test`. Both create .venv if missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: serve test lint bench install install-test system-deps docs clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# setup.py builds the C fast path (inferd/commands/_fastpath*.c, inferd/resp/_reads.c) in place; without a C compiler
# inferd does the same in Python.
FAST_C := setup.py inferd/_slots.h inferd/commands/_fastpath.h inferd/commands/_fastpath.c \
	inferd/commands/_fastpath_sets.c inferd/commands/_fastpath_tensors.c inferd/resp/_reads.c
# and compiles inferd/compiled.py's modules with mypyc (a change to one of them rebuilds)
FAST_C += inferd/compiled.py $(shell sed -n 's/^    "\(inferd[a-z_.]*\)",$$/\1/p' inferd/compiled.py | tr . / | sed 's/$$/.py/')

$(STAMP): pyproject.toml $(FAST_C) | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

install: $(STAMP)

# Tests need every backend (torch is pinned to the local CPU build), the client libraries, and Debian's
# redis-server/redis-tools as the oracle and load generator, and gcc (with Python's headers) for the C fast path,
# which the tests require, and for the benchmark's C load generator: installed first.
$(TEST_STAMP): pyproject.toml $(FAST_C) | $(BIN)/python system-deps
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[test,torch,tensorflow,bench,lint]"
	touch $@

# redisai-py 1.3 pins redis-py < 5 (RESP2): it gets its own environment, driven by tests/ai/test_redisai_client.py.
REDISAI_VENV := .venv-redisai
$(REDISAI_VENV)/.installed:
	$(PY) -m venv $(REDISAI_VENV)
	$(REDISAI_VENV)/bin/pip install -q "redisai==1.3.0" numpy
	touch $@

install-test: $(TEST_STAMP) $(REDISAI_VENV)/.installed system-deps

system-deps:
	@if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null || ! command -v gcc >/dev/null; then \
		SUDO=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
		$$SUDO apt-get update && $$SUDO apt-get install -y redis-server redis-tools gcc; \
	fi
	@if ! $(PY) -c "import os, sysconfig, sys; sys.exit(not os.path.exists(sysconfig.get_paths()['include'] + '/Python.h'))"; then \
		SUDO=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
		$$SUDO apt-get update && $$SUDO apt-get install -y python3-dev; \
	fi

serve: $(STAMP)
	$(BIN)/python -m inferd $(ARGS)

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check inferd tests bench
	$(BIN)/mypy

bench: install-test
	$(BIN)/python -m bench $(BENCH_ARGS)

docs: $(STAMP)
	$(BIN)/python -m inferd.docs commands > docs/commands.md
	$(BIN)/python -m inferd.docs operations docs/operations.md

clean:
	rm -rf $(VENV) $(REDISAI_VENV) build *.egg-info .pytest_cache inferd/commands/_fastpath*.so inferd/resp/_reads*.so
