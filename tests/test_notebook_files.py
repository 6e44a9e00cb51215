"""The committed notebooks: saved from a clean full run, Colab-ready, lint-clean.

(nbval, configured in pyproject.toml, re-runs them and compares outputs; these
tests check what nbval does not.)
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from notebook_cells import INSTALL_CELL  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "01_rnn_hidden_state",
    "01b_rnn_exercises",
    "02_gru_scratch",
    "03_gru_concise",
    "04_deep_rnn",
    "04b_deep_rnn_exercises",
    "05_gru_exercises",
    "06_english_edition",
]


def test_all_the_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.stem)
def nb(request):
    return json.loads(request.param.read_text(encoding="utf-8"))


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_first_cell_is_the_install_cell(nb):
    assert _source(nb["cells"][0]) == INSTALL_CELL


def test_title_names_both_editions(nb):
    title = _source(next(c for c in nb["cells"] if c["cell_type"] == "markdown"))
    assert title.startswith("# ")
    assert "zh.d2l.ai §" in title and "d2l.ai §" in title.replace("zh.d2l.ai", "")


def test_saved_from_one_top_to_bottom_run(nb):
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    # Execution timestamps left by an earlier (say, capped) run would contradict the outputs beside them.
    assert not [c for c in nb["cells"] if "execution" in c["metadata"]]


def test_kernelspec_is_what_jupyterlab_writes_so_opening_does_not_modify_it(nb):
    """JupyterLab rewrites the kernelspec to its kernel's on opening (a modified notebook, then an autosave)."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")  # the kernel JupyterLab starts for name "python3"
    expected = {"display_name": spec.display_name, "language": spec.language, "name": "python3"}
    assert nb["metadata"]["kernelspec"] == expected  # tools/run_notebooks.py writes it


def test_no_errors_and_no_live_widgets_left(nb):
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", out.get("evalue")
            assert "application/vnd.jupyter.widget-view+json" not in out.get("data", {})
    assert "widgets" not in nb["metadata"]


def test_committed_outputs_are_uncapped(nb):
    """Committed outputs come from a full-length run, not a CI-capped one."""
    outputs = json.dumps([cell.get("outputs", []) for cell in nb["cells"]])
    assert "D2L_MAX_EPOCHS=" not in outputs  # what max_epochs_from_env prints when it caps


def test_training_cells_ignore_output(nb):
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and ("train_ch8(" in _source(cell) or ".fit(" in _source(cell)):
            assert "nbval-ignore-output" in cell["metadata"].get("tags", []), _source(cell)[:80]


def test_ruff_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is missing: install the dev extras (make setup)"
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
