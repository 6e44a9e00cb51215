"""The package in a Colab-like environment: Colab's Python 3.13, torch 2.11, ipywidgets 7, IPython 7, ipykernel 6.

``make colab-env`` (part of ``make test``) builds ``.venv-colab`` with Colab's
versions (constraints-colab.txt, which says where each comes from), records
``pip freeze``, installs d2l_helpers with its dependencies resolved by pip
(nothing pinned), and records ``pip freeze`` again. These tests check that the
environment is Colab's, that the install changed nothing, that the scratch
GRU's fast path engages there, and run every notebook there under nbclient
with the live panel in widget mode. (tests/test_release.py installs the built
wheel there as the notebooks' first cell does, from a package index.)
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nbformat
import pytest
from kernels import COLAB, ROOT, colab_python, kernelspec_dir
from nbclient import NotebookClient

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PLAIN_TEXT = "<d2l training plot>"
# What Colab's front end (ipywidgets 7's JavaScript) knows: model modules and their versions.
IPYWIDGETS_7_MODULES = {"@jupyter-widgets/base": "1.2.0", "@jupyter-widgets/controls": "1.5.0"}
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _pins():
    pins = {}
    for line in (ROOT / "constraints-colab.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def _freeze(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if "==" in line:
            name, version = line.split("==")
            out[name.lower().replace("_", "-")] = version
    return out


def test_the_environment_has_colabs_versions_and_installing_the_package_changed_none():
    colab_python()
    before, after = _freeze(COLAB / "freeze-before.txt"), _freeze(COLAB / "freeze-after.txt")
    for name, version in _pins().items():
        assert before.get(name, "").split("+")[0] == version, (name, before.get(name))
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    assert not changed, changed  # (a dependency Colab lacks may be added; none that it has is changed)


def test_pip_would_change_none_of_colabs_packages(tmp_path):
    """With today's pyproject.toml (the freeze above is from when the environment was built)."""
    python = colab_python()
    report = tmp_path / "report.json"
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    planned = {item["metadata"]["name"].lower().replace("_", "-") for item in json.loads(report.read_text())["install"]}
    assert "d2l-helpers" in planned
    before = _freeze(COLAB / "freeze-before.txt")
    assert not planned & set(before), planned & set(before)  # nothing Colab has is reinstalled or upgraded


class RecordingClient(NotebookClient):
    """Keeps every widget view the kernel displays (the final image replaces it in the saved cell)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.views = {}  # cell index -> the widget views displayed while it ran

    def process_message(self, msg, cell, cell_index):
        data = msg.get("content", {}).get("data", {})
        # (a panel's kept frame, the picture a save keeps, is an output of its own: not a panel)
        frame = "frame_of" in msg.get("content", {}).get("metadata", {}).get("d2l_helpers", {})
        if isinstance(data, dict) and WIDGET_VIEW in data and not frame and msg.get("msg_type") == "display_data":
            self.views.setdefault(cell_index, []).append(data[WIDGET_VIEW])
        return super().process_message(msg, cell, cell_index)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_trains_in_the_colab_environment_with_the_widget_panel(path, tmp_path, monkeypatch):
    python = colab_python()
    monkeypatch.setenv("JUPYTER_PATH", str(kernelspec_dir(tmp_path, python, "colab")))
    monkeypatch.setenv("D2L_PLOT", "widget")  # the panel, as in Colab
    monkeypatch.setenv("D2L_MAX_EPOCHS", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(path.parent)}}
    client = RecordingClient(nb, timeout=900, kernel_name="colab", resources=resources, store_widget_state=True)
    client.execute()

    for index, cell in enumerate(nb.cells):  # a training call with the default display shows a panel
        calls = ("train_ch8(", ".fit(", "d2l.sweep(")
        if cell.cell_type == "code" and any(c in cell.source for c in calls) and 'plot="off"' not in cell.source:
            assert index in client.views, f"no widget panel in cell {index}: {cell.source[:80]!r}"
    for index, views in client.views.items():  # each panel shown has become its static image, in place
        cell = nb.cells[index]
        finals = [o for o in cell.outputs if o.output_type == "display_data" and "image/png" in o.data]
        assert len([o for o in finals if o.data.get("text/plain") == PLAIN_TEXT]) == len(views), cell.source[:80]
        assert all((v["version_major"], v["version_minor"]) == (2, 0) and v["model_id"] for v in views)
    assert WIDGET_VIEW not in json.dumps([c.get("outputs", []) for c in nb.cells])
    if client.views:  # the models behind the panels: names and versions ipywidgets 7's front end knows
        state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        modules = {(m["model_module"], m["model_module_version"]) for m in state.values()}
        assert modules <= set(IPYWIDGETS_7_MODULES.items()), modules
        names = {m["model_name"] for m in state.values()}
        assert names >= {"VBoxModel", "ImageModel", "IntProgressModel", "LabelModel"}, names


def test_colab_kernel_is_really_colabs_python_torch_and_ipywidgets_7():
    python = colab_python()
    code = (
        "import sys, IPython, ipykernel, ipywidgets, jupyter_client, traitlets, torch; "
        "print(sys.version.split()[0][:4], torch.__version__.split('+')[0], ipywidgets.__version__, "
        "IPython.__version__, ipykernel.__version__, jupyter_client.__version__, traitlets.__version__)"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=300)
    pins = _pins()
    names = ["torch", "ipywidgets", "ipython", "ipykernel", "jupyter-client", "traitlets"]
    assert out.stdout.split() == ["3.13", *(pins[n] for n in names)], out.stderr
    assert pins["torch"] == "2.11.0" and pins["ipywidgets"] == "7.7.1"  # Colab's, as constraints-colab.txt says


def _cells_of_notebook_02(*starts):
    """The learner's cells of notebooks/02_gru_scratch.ipynb that start with each of ``starts``."""
    nb = nbformat.read(ROOT / "notebooks" / "02_gru_scratch.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    return [next(s for s in code if s.startswith(start)) for start in starts]


def test_the_scratch_grus_fast_path_engages_in_the_colab_kernel(tmp_path, monkeypatch):
    """Notebook 02's own gru, trained by train_ch8 in Colab's kernel: the fast path says it trains it.

    (It falls back to training as written, silently but for that first line, when its check of
    values and gradients fails: a different torch or Python could do that.)
    """
    python = colab_python()
    monkeypatch.setenv("JUPYTER_PATH", str(kernelspec_dir(tmp_path, python, "colab")))
    monkeypatch.setenv("D2L_PLOT", "text")
    monkeypatch.delenv("D2L_MAX_EPOCHS", raising=False)  # (its cap line would come first)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cells = _cells_of_notebook_02("import ", "def get_params(", "def init_gru_state(", "def gru(")
    cells += [
        "train_iter, vocab = d2l.load_data_time_machine(8, 10, max_tokens=1500)\n"
        "model = d2l.RNNModelScratch(len(vocab), 32, 'cpu', get_params, init_gru_state, gru)\n"
        "history = d2l.train_ch8(model, train_iter, vocab, 1, 3, 'cpu')",
        "print(repr(history.fast_path))",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=600, kernel_name="colab", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-2].outputs if o.output_type == "stream")
    assert "fast" in printed.splitlines()[0].lower(), printed  # the first line says the fast path trains
    assert nb.cells[-1].outputs[0].text.strip() == "'scratch GRU kernel'"
