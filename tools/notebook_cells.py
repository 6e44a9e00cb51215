"""The one place that defines the notebooks' first cell (the Colab install cell).

``tools/run_notebooks.py`` writes this cell into every notebook before running
it, and ``tests/test_notebook_files.py`` checks that each notebook carries it.
Change ``INSTALL_SOURCE`` here when the project moves, then ``make notebooks``.
"""

INSTALL_SOURCE = "d2l_helpers @ git+https://github.com/d2l-rnn/d2l-helpers"

INSTALL_CELL = f'''# Colab, or any kernel without the helpers: install d2l_helpers first (a no-op when it is installed).
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("d2l_helpers") is None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "{INSTALL_SOURCE}"],
        check=True,
    )'''
