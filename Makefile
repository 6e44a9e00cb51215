# make lab    - create .venv with what the notebooks need (pinned by constraints.txt), open JupyterLab
#               (the same as `python3 tools/setup_lab.py`, which needs no make: Windows, conda)
# make test   - add the test tools and a Colab-like second environment, then run every test
# make notebooks - re-execute the notebooks top to bottom at full book length
# make notebook-cells - rewrite the notebooks' first cell and "Open in Colab" badges (nothing executed)
# make dist   - build the release (sdist and wheel) into dist/
# make bench  - speed against upstream d2l, printed as a table
# make reproduce - train every configuration at full book length, write docs/reproduction.md
# make zh     - copy code and outputs into the Chinese notebooks (notebooks/zh/), list stale translations
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LAB_STAMP := $(VENV)/.installed-lab
DEV_STAMP := $(VENV)/.installed-dev
# The Colab-like environment of the tests (constraints-colab.txt): Colab's Python 3.13, torch
# 2.11.0, ipywidgets 7, IPython 7, ipykernel 6 and classic Notebook 6, with d2l_helpers installed
# as a package is installed there (its dependencies resolved by pip, nothing pinned).
COLAB ?= .venv-colab
COLAB_STAMP := $(COLAB)/.installed
# Its Python: a 3.13, as Colab's. python3.13 if it runs, else pyenv's 3.13; none: `make test` says so.
ifndef COLAB_PYTHON  # (looked for once, not at every use)
COLAB_PYTHON := $(shell for p in python3.13 "$$(pyenv prefix 3.13 2>/dev/null)/bin/python3.13"; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { command -v "$$p"; break; }; done)
endif
# What it installs, at constraints-colab.txt's versions (nbclient runs the notebooks in it).
COLAB_PACKAGES := pip torch numpy matplotlib pillow ipywidgets widgetsnbextension jupyterlab_widgets ipython \
	ipykernel jupyter_client jupyter_core traitlets pyzmq tornado notebook nbformat nbclient cloudpickle dask
# Its wheels are kept here (2.7 GB: torch's CUDA build and its libraries): `pip download`
# fetches only what is not there yet, and the install reads from there. pip's own cache would do
# the same where the index's responses may be cached; on this project's machines they may not.
COLAB_WHEELS ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/d2l-helpers/colab-wheels

.PHONY: setup lab-setup test-setup colab-env colab-python lab test lint notebooks notebook-cells zh dist bench reproduce clean

lab-setup: $(LAB_STAMP)
test-setup setup: colab-python $(DEV_STAMP) $(COLAB_STAMP)

# tools/setup_lab.py: the venv, `pip install -c constraints.txt -e ".[lab]"`, JupyterLab's settings.
$(LAB_STAMP): pyproject.toml constraints.txt tools/setup_lab.py tools/jupyterlab_overrides.json $(wildcard tools/jupyter_server_config.py)
	$(PYTHON) tools/setup_lab.py --venv $(VENV) --no-launch

$(DEV_STAMP): $(LAB_STAMP) Makefile
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	# Upstream d2l, only as the reference the tests compare against: its pins
	# (numpy 1.21.5, torchvision) cannot install here, so it comes without deps
	# and the tests read its source instead of importing it.
	$(BIN)/python -m pip install --quiet --no-deps d2l==0.17.6
	# d2l 1.0.3, the English edition's API, likewise a reference only: a folder
	# of its own (both wheels install the package name d2l), read by
	# tests/upstream_d2l_en.py and benchmarks/bench_en.py.
	$(BIN)/python -m pip install --quiet --no-deps --upgrade --target $(VENV)/d2l-1.0.3 d2l==1.0.3
	touch $(DEV_STAMP)

colab-env: $(COLAB_STAMP)

colab-python:
	@test -n "$(COLAB_PYTHON)" || { echo "make: the Colab-like environment ($(COLAB)) needs Python 3.13, as Colab has, and" \
		"none was found (no python3.13 that runs on PATH, none from pyenv). Install one (pyenv install 3.13)" \
		"or name it: make test COLAB_PYTHON=/path/to/python3.13" >&2; exit 1; }
	@"$(COLAB_PYTHON)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' || { echo "make: COLAB_PYTHON=$(COLAB_PYTHON)" \
		"is not a Python 3.13 that runs (Colab has 3.13): name one, COLAB_PYTHON=/path/to/python3.13" >&2; exit 1; }

$(COLAB_STAMP): constraints-colab.txt pyproject.toml Makefile | colab-python
	rm -rf $(COLAB)
	"$(COLAB_PYTHON)" -m venv $(COLAB)
	$(COLAB)/bin/python -m pip download --quiet -d $(COLAB_WHEELS) -c constraints-colab.txt $(COLAB_PACKAGES)
	$(COLAB)/bin/python -m pip install --quiet --no-index --find-links $(COLAB_WHEELS) -c constraints-colab.txt $(COLAB_PACKAGES)
	$(COLAB)/bin/python -m pip freeze --all --exclude-editable > $(COLAB)/freeze-before.txt
	$(COLAB)/bin/python -m pip install --quiet -e . > $(COLAB)/install.log 2>&1 || (cat $(COLAB)/install.log; exit 1)
	$(COLAB)/bin/python -m pip freeze --all --exclude-editable > $(COLAB)/freeze-after.txt
	touch $(COLAB_STAMP)

lab: $(LAB_STAMP)
	$(PYTHON) tools/setup_lab.py --venv $(VENV)

test: colab-python $(DEV_STAMP) $(COLAB_STAMP)  # (colab-python first: no Python 3.13, no long install before saying so)
	$(BIN)/python -m pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

notebooks: $(DEV_STAMP)
	$(BIN)/python tools/run_notebooks.py

notebook-cells: $(DEV_STAMP)
	$(BIN)/python tools/notebook_cells.py

dist: $(DEV_STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m twine check --strict dist/*

zh: $(DEV_STAMP)
	$(BIN)/python tools/sync_zh.py

bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_en.py
	$(BIN)/python benchmarks/bench_sweep.py

reproduce: $(DEV_STAMP)
	$(BIN)/python benchmarks/reproduce.py

clean:
	rm -rf $(VENV) $(COLAB) .pytest_cache dist build
