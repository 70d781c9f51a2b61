# Set-up and checks. `make demo` trains the chapter's configuration and writes its report;
# `make test` runs lint, type checks and the whole test suite (MXNet in its own environment).
PY ?= python3
# MXNet's environment: numpy 1.23.5 has wheels for Python 3.8-3.11 only.
PY_MX ?= $(PY)
VENV := .venv
VENV_MX := .venv-mxnet
BIN := $(VENV)/bin
MXBIN := $(VENV_MX)/bin
# The CPU build of PyTorch; an unpinned torch would pull a multi-GB CUDA build. Where pip does
# not already find the CPU wheel (it does on the development machines), point it at PyTorch's
# CPU index: make TORCH_PIP_ARGS='--index-url https://download.pytorch.org/whl/cpu'
TORCH_PIN := torch==2.13.0
TORCH_PIP_ARGS ?=
RUN_DIR := runs/chapter
# Scratch folders of the checks, inside the clone (ignored by git; pytest empties its own at
# start): a temporary folder per run under /tmp would pile up on a shared disk.
SCRATCH := build/check
# The newest Python on the machines. Two environments there: a plain `pip install .` (no extra)
# proves that the base dependencies train and write a checkpoint; `.[tensorflow,test,...]` runs
# NumPy and TensorFlow tests there (test-newest), so that requires-python and those pins are
# proven. PyTorch is proven in the main environment only: PyPI has no CPU wheel of it for Python
# 3.13, and its CUDA build (4.7 GB installed) took two minutes of a fresh clone's set-up.
PY_NEW ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) python3.13)
VENV_NEW := .venv-py313
NEWBIN := $(VENV_NEW)/bin
VENV_NEWT := .venv-py313-frameworks
NEWTBIN := $(VENV_NEWT)/bin
ENVS := $(BIN)/.installed $(MXBIN)/.installed $(NEWBIN)/.installed $(NEWTBIN)/.installed

.PHONY: demo test envs lint docs dist test-main test-main-procs test-main-rest test-mxnet \
	test-newest data bench clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PIP_ARGS) $(TORCH_PIN)
	$(BIN)/python -m pip install -q -e '.[dev,torch,tensorflow,notebook,ray,book]'
	touch $@

# MXNet 1.9.1 imports only with numpy < 1.24, which current TensorFlow cannot use.
$(MXBIN)/.installed: pyproject.toml
	@$(PY_MX) -c 'import sys; sys.exit(sys.version_info >= (3, 12))' || { echo "MXNet 1.9.1 \
	needs numpy 1.23.5, which installs on Python 3.8-3.11 only; $(PY_MX) is newer: run make \
	with PY_MX=python3.11 (or another Python <= 3.11)" >&2; exit 1; }
	$(PY_MX) -m venv $(VENV_MX)
	$(MXBIN)/python -m pip install -q --upgrade pip
	$(MXBIN)/python -m pip install -q 'numpy==1.23.5'
	$(MXBIN)/python -m pip install -q -e '.[mxnet,test,notebook,book]'
	touch $@

# The package as it would be published: sdist and wheel built in isolation (python -m build,
# from a small tools venv of their own), then checked by twine.
VENV_DIST := .venv-dist
define build_dist
	test -x $(VENV_DIST)/bin/twine || { $(PY_NEW) -m venv $(VENV_DIST) && \
		$(VENV_DIST)/bin/python -m pip install -q build twine; }
	rm -rf dist
	$(VENV_DIST)/bin/python -m build -q --outdir dist . >/dev/null
	$(VENV_DIST)/bin/twine check --strict dist/*
endef

dist:
	$(build_dist)

# The published wheel installed plainly (no extra) in a new venv: rebuilt when the sources change.
$(NEWBIN)/.installed: pyproject.toml $(shell find src -name '*.py')
	$(build_dist)
	rm -rf $(VENV_NEW)
	$(PY_NEW) -m venv $(VENV_NEW)
	$(NEWBIN)/python -m pip install -q --upgrade pip
	$(NEWBIN)/python -m pip install -q dist/softreg-*.whl
	touch $@

$(NEWTBIN)/.installed: pyproject.toml
	$(PY_NEW) -m venv $(VENV_NEWT)
	$(NEWTBIN)/python -m pip install -q --upgrade pip
	$(NEWTBIN)/python -m pip install -q -e '.[tensorflow,test,book,sklearn]'
	touch $@

# The four environments are built side by side (pip is mostly one core and the network); the
# checks then run one after another. Plain `make test-main` and the like build what they need.
envs:
	$(MAKE) --no-print-directory -j4 -Otarget $(ENVS)

data: $(BIN)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/get-data.sh

demo: $(BIN)/.installed data
	$(BIN)/softreg train --out $(RUN_DIR) --overwrite
	@echo "report: $(RUN_DIR)/report.md (figures: curves.png, predictions.png, mistakes.png, confusion.png; more with softreg explain $(RUN_DIR))"

# The checks run side by side, the main suite in two halves (each pytest keeps about one core
# busy): the two cores stay busy to the end instead of one half of the main suite running alone
# once the shorter MXNet and Python 3.13 suites are done. Each prints its output when it ends
# (-Otarget); each pytest has its own folder.
test:
	$(MAKE) --no-print-directory envs
	$(MAKE) --no-print-directory data
	$(MAKE) --no-print-directory -j5 -Otarget lint test-main-procs test-main-rest test-mxnet \
		test-newest

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks docs/hooks
	$(BIN)/mypy
	rm -rf $(SCRATCH)/site && NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build -q --strict --site-dir $(CURDIR)/$(SCRATCH)/site

# The documentation site, into site/ (a warning, a broken link or a missing reference fails).
docs: $(BIN)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The main suite: its halves side by side (make -j2 test-main), or one after the other. The first
# half holds the tests that start processes, Ray clusters and notebook kernels (all the Ray ones,
# so that two clusters never start at once); the second, the rest.
MAIN_REQUIRE := torch,tensorflow,data,mpmath,safetensors,PIL,onnx,onnxruntime,tensorboard,jupyter,ray,griffe,sklearn,numba
PROCS_TESTS := tests/reliability tests/sweeps tests/examples
test-main: test-main-procs test-main-rest

test-main-procs: $(BIN)/.installed data
	mkdir -p $(SCRATCH)
	SOFTREG_REQUIRE=$(MAIN_REQUIRE) $(BIN)/python -m pytest -m "not mxnet" -q -p no:cacheprovider \
		--basetemp=$(CURDIR)/$(SCRATCH)/pytest-procs $(PROCS_TESTS)

test-main-rest: $(BIN)/.installed data
	mkdir -p $(SCRATCH)
	SOFTREG_REQUIRE=$(MAIN_REQUIRE) $(BIN)/python -m pytest -m "not mxnet" -q -p no:cacheprovider \
		--basetemp=$(CURDIR)/$(SCRATCH)/pytest-rest $(addprefix --ignore=,$(PROCS_TESTS))

test-mxnet: $(MXBIN)/.installed data
	mkdir -p $(SCRATCH)
	SOFTREG_REQUIRE=mxnet,data,mpmath,safetensors,PIL,jupyter $(MXBIN)/python -m pytest -m mxnet -q \
		-p no:cacheprovider --basetemp=$(CURDIR)/$(SCRATCH)/pytest-mxnet

# A plain install trains with NumPy and writes its checkpoint and report; then the NumPy and
# TensorFlow tests of the parts that lean most on Python and its standard library run on Python
# 3.13 (the command line, checkpoints and the write gate, data files and archives, the
# estimator, the backends, the d2l facades), but for the slow ones. The rest of the suite
# (sweeps, processes, explain, export, PyTorch, MXNet, Ray, ONNX, TensorBoard, notebooks) runs in
# the other environments: the whole suite a second time took a fifth of make test's CPU time.
NEWEST_TESTS := tests/core tests/estimator tests/backends tests/fitting tests/cli tests/runfiles \
	tests/safety tests/data tests/d2l tests/epochs tests/test_tensorflow_d2l.py \
	tests/test_d2l_common.py tests/test_d2l_facades.py tests/test_framework_losses.py \
	tests/test_layers.py
test-newest: $(NEWBIN)/.installed $(NEWTBIN)/.installed data
	rm -rf $(SCRATCH)/newest-run && mkdir -p $(SCRATCH)/newest-run
	cd $(SCRATCH)/newest-run && $(CURDIR)/$(NEWBIN)/softreg train --framework numpy --epochs 1 \
		--offline --quiet --out run
	cd /tmp && for fw in torch tensorflow mxnet; do $(CURDIR)/$(NEWBIN)/python -c "import softreg.$$fw" \
		2>&1 | grep -q "'softreg\[$$fw\]'" || { echo "softreg.$$fw: no install hint \
		in the wheel's environment" >&2; exit 1; }; done
	SOFTREG_REQUIRE=tensorflow,data,mpmath,safetensors,PIL,sklearn $(NEWTBIN)/python -m pytest \
		-q -p no:cacheprovider --basetemp=$(CURDIR)/$(SCRATCH)/pytest-newest -m "not mxnet and not slow" \
		$(NEWEST_TESTS)

# Every benchmark, then the docs' chart of their side-by-side ratios (bench-results.jsonl).
bench: $(BIN)/.installed $(MXBIN)/.installed data
	rm -f bench-results.jsonl
	for b in benchmarks/bench_*.py; do case $$b in *mxnet*) \
		SOFTREG_BENCH_JSON=$(CURDIR)/bench-results.jsonl $(MXBIN)/python $$b ;; *) \
		SOFTREG_BENCH_JSON=$(CURDIR)/bench-results.jsonl $(BIN)/python $$b ;; esac || exit 1; done
	$(BIN)/python scripts/bench_figures.py bench-results.jsonl docs/img/benchmarks.png

clean:
	rm -rf build $(VENV) $(VENV_MX) $(VENV_NEW) $(VENV_NEWT) $(VENV_DIST) runs softreg-figures site dist .pytest_cache .mypy_cache .ruff_cache
