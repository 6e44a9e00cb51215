"""Kernels of this project's two environments, for the tests that talk to a kernel directly.

``.venv`` is the project's own environment (ipywidgets 8, ipykernel 7); ``.venv-colab``
is the Colab-like one that ``make colab-env`` builds from ``constraints-colab.txt``
(ipywidgets 7.7.1, IPython 7.34, ipykernel 6.17.1, classic Notebook 6.5.7).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLAB = ROOT / ".venv-colab"
COLAB_PYTHON = COLAB / "bin" / "python"


def colab_python() -> Path:
    """The Colab-like environment's interpreter; fail under CI, skip elsewhere, when it is missing."""
    if not (COLAB / ".installed").is_file():
        reason = f"the Colab-like environment {COLAB} is missing: `make colab-env` (or `make test`) builds it"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; in CI it must exist (.ci/run runs make test)")
        pytest.skip(reason)
    return COLAB_PYTHON


def kernelspec_dir(tmp_path: Path, python: Path | str, name: str) -> Path:
    """A kernelspec folder ``tmp_path/kernels/name`` whose kernel runs ``python``; returns ``tmp_path``.

    Put the returned folder first on ``JUPYTER_PATH`` (or give it to a
    ``KernelSpecManager``) to start kernels of that interpreter.
    """
    spec = tmp_path / "kernels" / name
    spec.mkdir(parents=True, exist_ok=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": name, "language": "python"}))
    return tmp_path


ENVIRONMENTS = {"project": lambda: Path(sys.executable), "colab": colab_python}
