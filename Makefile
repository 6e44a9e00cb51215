# make lab    - create .venv (pinned by constraints.txt) and open JupyterLab on notebooks/
# make test   - create or reuse .venv and run every test
# make notebooks - re-execute the notebooks top to bottom at full book length
# make bench  - speed against upstream d2l, printed as a table
# make reproduce - train every configuration at full book length, write docs/reproduction.md
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup lab test lint notebooks bench reproduce clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	# Upstream d2l, only as the reference the tests compare against: its pins
	# (numpy 1.21.5, torchvision) cannot install here, so it comes without deps
	# and the tests read its source instead of importing it.
	$(BIN)/python -m pip install --quiet --no-deps d2l==0.17.6
	touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab notebooks/

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

notebooks: setup
	$(BIN)/python tools/run_notebooks.py

bench: setup
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_sweep.py

reproduce: setup
	$(BIN)/python benchmarks/reproduce.py

clean:
	rm -rf $(VENV) .pytest_cache
