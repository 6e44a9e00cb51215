"""Execute the notebooks top to bottom at full book length and save their outputs.

    make notebooks                 # all of notebooks/*.ipynb
    python tools/run_notebooks.py notebooks/02_gru_scratch.ipynb

The committed outputs come from this run: no epoch cap (``D2L_MAX_EPOCHS`` is
removed from the kernel's environment), the live plot in widget mode, which
leaves a static PNG in the saved cell. The text comes from ``$D2L_DATA_DIR``,
else from ``../shared/data`` beside the checkout when it is there, else it is
downloaded as in the notebooks. Each notebook's first cell and Colab badge
are rewritten by ``tools/notebook_cells.py`` first, and no cell keeps execution
timestamps. The kernelspec saved is the one JupyterLab writes when it opens
the notebook with this environment's ``python3`` kernel (``display_name``
"Python 3 (ipykernel)"), so that opening a notebook does not modify it.
Prints the time each notebook took.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

from d2l_helpers.jupyter_hook import strip_widget_views

sys.path.insert(0, str(Path(__file__).parent))
import notebook_cells  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"  # beside the checkout, as in CI (tests/conftest.py does the same)


def kernelspec(name: str = "python3") -> dict:
    """The notebook metadata JupyterLab writes for kernel ``name``: its name, display name and language."""
    spec = KernelSpecManager().get_kernel_spec(name)
    return {"display_name": spec.display_name, "language": spec.language, "name": name}


def run(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    try:
        notebook_cells.apply(nb, notebook_cells.relative(path))  # the install cell and the Colab badge
    except ValueError as err:
        raise SystemExit(str(err)) from None
    client = NotebookClient(
        nb,
        timeout=None,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,
        record_timing=False,
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    for cell in nb.cells:  # timestamps of an earlier run would contradict the outputs: keep none
        cell.metadata.pop("execution", None)
    nb.metadata["kernelspec"] = kernelspec()  # what JupyterLab would rewrite it to on opening
    strip_widget_views(nb)  # as a save from JupyterLab does (make lab's pre-save hook): no emptied frame outputs
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str]) -> None:
    for var in ("D2L_MAX_EPOCHS", "D2L_PLOT"):
        os.environ.pop(var, None)
    if not os.environ.get("D2L_DATA_DIR") and (SHARED_DATA / "timemachine.txt").is_file():
        os.environ["D2L_DATA_DIR"] = str(SHARED_DATA)
    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    total = 0.0
    for path in paths:
        print(f"{path.name}: running...", flush=True)
        elapsed = run(path)
        total += elapsed
        print(f"{path.name}: {elapsed / 60:.1f} min", flush=True)
    print(f"all: {total / 60:.1f} min")


if __name__ == "__main__":
    main(sys.argv[1:])
