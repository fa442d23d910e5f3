# make run : set up .venv and run the workflow on the example sheet (pairs.tsv)
# make test: set up .venv and run the test suite
# make lint: snakemake --lint, ruff and snakefmt --check
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
SNAKEMAKE_ARGS ?=

.PHONY: run test lint dry-run clean-venv

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned, so that pip takes the CPU build here instead of the multi-GB CUDA one.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
# The fan extra without its dependencies: face-alignment asks for GUI opencv-python, which would
# clash with the headless build (pyproject.toml's fan extra says more; envs/ does the same).
	$(BIN)/python -m pip install -q --no-deps face-alignment==1.5.0
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
