# make lab    - create .venv with what the notebooks need (pinned by constraints.txt), open JupyterLab
# make test   - add the test tools and a Colab-like second environment, then run every test
# make notebooks - re-execute the notebooks top to bottom at full book length
# make bench  - speed against upstream d2l, printed as a table
# make reproduce - train every configuration at full book length, write docs/reproduction.md
# make zh     - copy code and outputs into the Chinese notebooks (notebooks/zh/), list stale translations
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LAB_STAMP := $(VENV)/.installed-lab
DEV_STAMP := $(VENV)/.installed-dev
# The Colab-like environment of the tests (constraints-colab.txt): Colab's ipywidgets 7,
# IPython 7, ipykernel 6 and classic Notebook 6, with d2l_helpers installed the way the
# notebooks' first cell installs it (its dependencies resolved by pip, nothing pinned).
COLAB ?= .venv-colab
COLAB_STAMP := $(COLAB)/.installed
# JupyterLab saves the widgets' state with the notebook, so that a notebook saved while
# training runs (autosave) reopens with the panel's latest frame, not "model not found".
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json

.PHONY: setup lab-setup test-setup colab-env lab test lint notebooks bench reproduce clean

lab-setup: $(LAB_STAMP)
test-setup setup: $(DEV_STAMP) $(COLAB_STAMP)

$(LAB_STAMP): pyproject.toml constraints.txt tools/jupyterlab_overrides.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[lab]'
	mkdir -p $(dir $(LAB_OVERRIDES))
	cp tools/jupyterlab_overrides.json $(LAB_OVERRIDES)
	touch $(LAB_STAMP)

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

$(COLAB_STAMP): constraints-colab.txt pyproject.toml Makefile
	rm -rf $(COLAB)
	$(PYTHON) -m venv $(COLAB)
	$(COLAB)/bin/python -m pip install --quiet -c constraints-colab.txt \
		ipywidgets widgetsnbextension ipython ipykernel traitlets notebook numpy matplotlib pillow torch nbclient
	$(COLAB)/bin/python -m pip freeze --exclude-editable > $(COLAB)/freeze-before.txt
	$(COLAB)/bin/python -m pip install --quiet -e . > $(COLAB)/install.log 2>&1 || (cat $(COLAB)/install.log; exit 1)
	$(COLAB)/bin/python -m pip freeze --exclude-editable > $(COLAB)/freeze-after.txt
	touch $(COLAB_STAMP)

lab: $(LAB_STAMP)
	$(BIN)/jupyter lab notebooks/

test: $(DEV_STAMP) $(COLAB_STAMP)
	$(BIN)/python -m pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

notebooks: $(DEV_STAMP)
	$(BIN)/python tools/run_notebooks.py

zh: $(DEV_STAMP)
	$(BIN)/python tools/sync_zh.py

bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_en.py
	$(BIN)/python benchmarks/bench_sweep.py

reproduce: $(DEV_STAMP)
	$(BIN)/python benchmarks/reproduce.py

clean:
	rm -rf $(VENV) $(COLAB) .pytest_cache
