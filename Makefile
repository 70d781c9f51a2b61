# Set-up and checks. `make demo` trains the chapter's configuration and writes its report;
# `make test` runs lint, type checks and the whole test suite (MXNet in its own environment).
PY ?= python3
VENV := .venv
VENV_MX := .venv-mxnet
BIN := $(VENV)/bin
MXBIN := $(VENV_MX)/bin
# The CPU build of PyTorch; an unpinned torch would pull a multi-GB CUDA build.
TORCH_PIN := torch==2.13.0
RUN_DIR := runs/chapter

.PHONY: demo test lint test-main test-mxnet data bench clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PIN)
	$(BIN)/python -m pip install -q -e '.[dev,torch,tensorflow]'
	touch $@

# MXNet 1.9.1 imports only with numpy < 1.24, which current TensorFlow cannot use.
$(MXBIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV_MX)
	$(MXBIN)/python -m pip install -q --upgrade pip
	$(MXBIN)/python -m pip install -q 'numpy==1.23.5'
	$(MXBIN)/python -m pip install -q -e '.[mxnet,test]'
	touch $@

data: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/get-data.sh

demo: $(BIN)/.installed data
	$(BIN)/softreg train --out $(RUN_DIR) --overwrite
	@echo "report: $(RUN_DIR)/report.md (figures: curves.png, predictions.png, confusion.png)"

test: lint test-main test-mxnet

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

test-main: $(BIN)/.installed data
	SOFTREG_REQUIRE=torch,tensorflow,data,mpmath,safetensors,PIL $(BIN)/python -m pytest -m "not mxnet" -q

test-mxnet: $(MXBIN)/.installed data
	SOFTREG_REQUIRE=mxnet,data,mpmath,safetensors,PIL $(MXBIN)/python -m pytest -m mxnet -q

bench: $(BIN)/.installed data
	for b in benchmarks/bench_*.py; do case $$b in *mxnet*) $(MXBIN)/python $$b ;; *) $(BIN)/python $$b ;; esac || exit 1; done

clean:
	rm -rf $(VENV) $(VENV_MX) runs softreg-figures .pytest_cache .mypy_cache .ruff_cache
