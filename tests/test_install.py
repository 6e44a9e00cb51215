"""What `make lab` installs: the notebooks' needs, and no test tool."""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_TOOLS = {"pytest", "nbval", "ruff", "playwright", "d2l", "dask", "distributed"}  # (nbclient comes with JupyterLab)


def _make_lab_pip_installs():
    """The pip install commands `make lab` would run (make -n prints them without running them)."""
    out = subprocess.run(
        ["make", "-n", "-B", "lab-setup", "VENV=/nonexistent-venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if "pip install" in line]


def test_make_lab_installs_only_the_lab_extras():
    (command,) = _make_lab_pip_installs()
    assert "-c constraints.txt" in command and command.rstrip().endswith("-e '.[lab]'"), command


def test_the_lab_extras_pull_in_no_test_tool(tmp_path):
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report)]
        + ["-c", "constraints.txt", ".[lab]"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    names = {re.sub(r"[-_.]+", "-", i["metadata"]["name"].lower()) for i in json.loads(report.read_text())["install"]}
    assert {"d2l-helpers", "torch", "ipywidgets", "jupyterlab", "ipykernel"} <= names
    assert not names & TEST_TOOLS, names & TEST_TOOLS
