# glacier-csc: make venv | demo | test | bench
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := demo_output
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONHASHSEED := 0
# pytest-xdist workers for make test; each test file runs on one (its module fixtures are built once)
TEST_WORKERS ?= 2

.PHONY: venv demo test test-fast bench bench-quick clean

venv: $(STAMP)

$(STAMP): setup.py csc/__init__.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: venv
	$(BIN)/python -m csc.demo --out $(DEMO)

test: venv
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-fast: venv
	$(BIN)/python -m pytest -m "not slow"

bench: venv
	$(BIN)/python benchmarks/run_all.py

bench-quick: venv
	$(BIN)/python benchmarks/run_all.py --quick

clean:
	rm -rf $(DEMO) .pytest_cache build *.egg-info
