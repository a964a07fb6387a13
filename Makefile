# archc: `make demo` and `make test` work on a fresh clone with only Python 3.11 and pip.
# Both create .venv when missing, install torch first (the CPU build where there is no GPU),
# then `pip install -e .[test]`.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_VERSION ?= 2.13.0
# torch's CPU wheels; tried only when the plain CPU requirement cannot be met from the configured indexes
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1)

.PHONY: all venv demo test test-fast golden bench lint-code graphviz clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
ifeq ($(HAS_GPU),1)
	$(BIN)/pip install "torch==$(TORCH_VERSION)"
else
	$(BIN)/pip install "torch==$(TORCH_VERSION)+cpu" || \
	  $(BIN)/pip install "torch==$(TORCH_VERSION)+cpu" --extra-index-url $(TORCH_CPU_INDEX)
endif
	$(BIN)/pip install -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

# Graphviz's `dot` renders `archc graph` pictures; CI runs as root and gets Debian's package.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq graphviz >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq graphviz >/dev/null 2>&1)) && echo "installed graphviz"; \
	  else \
	    echo "note: Graphviz's 'dot' is missing; install it (apt install graphviz / brew install graphviz) to render .svg/.png"; \
	  fi; }

demo: venv graphviz
	@bash scripts/demo.sh

test: venv graphviz
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: venv
	$(BIN)/python -m pytest -n 2 -m "not slow"

golden: venv
	$(BIN)/python scripts/refresh_golden.py

bench: venv
	$(BIN)/python scripts/bench.py

# Triton kernels next to their baselines on a CUDA GPU (issue 9); without one it says nothing was measured.
# It never creates or installs into .venv: a GPU machine may reach no package registry. It runs with
# PYTHON when given on the command line (make bench-kernels PYTHON=python3), else .venv's Python if present.
BENCH_PYTHON = $(if $(filter command line,$(origin PYTHON)),$(PYTHON),$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)))
.PHONY: bench-kernels
bench-kernels:
	$(BENCH_PYTHON) scripts/bench_kernels.py

lint-code: venv
	$(BIN)/ruff check archc tests scripts

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
