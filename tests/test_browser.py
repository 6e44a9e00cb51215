"""End to end: the live dashboard in a real browser, in JupyterLab and in the classic Notebook.

The tests start a Jupyter server on 127.0.0.1, open a small training notebook
in Debian's Chromium driven by playwright-python, run it, and check what a
learner sees.

Both servers run with ``tools/jupyter_server_config.py`` (the pre-save hook
that ``make lab`` installs).

In JupyterLab (ipywidgets 8, configured for testing by
``jupyterlab.galata.configure_jupyter_server``):

1. saved while training runs (as autosave does), closed, the server (and so
   the kernel) stopped and started again: the notebook reopens showing the
   panel's latest frame as a picture, unmodified, never "Error displaying
   widget"; saved again (as autosave or Ctrl+S would), stopped, reopened: the
   same (the save, reopen, save, reopen of issue 19);
2. run again: while the training cell is busy, the plot image changes several
   times (a screenshot of the running panel is saved to ``docs/dashboard.png``);
3. once it is done, the panel has become a static image and the book's
   printed lines are there;
4. saved, the notebook holds a PNG and no widget view; after a server
   restart it reopens without "Error displaying widget";
5. the English edition's ``Trainer.fit`` draws its board in the same live
   panel: frames change while it runs, and a PNG is left.

A notebook saved by ``tools/run_notebooks.py`` opens in JupyterLab without
being modified (its kernelspec is the one JupyterLab writes).

In the classic Notebook 6.5 with ipywidgets 7.7.1, from the Colab-like
environment (``.venv-colab``; Colab's runtime ships the same Notebook and
ipywidgets): the frames change while the cell runs, and the PNG is there
after; saved mid-run, it reopens (twice, saved in between) with the latest
frame and no widget error.

It needs Debian's ``chromium`` (playwright's own browser download is not
used). It installs it with apt-get when it can (as root); elsewhere it skips,
saying why, except under CI, where it fails instead.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from kernels import COLAB, colab_python

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "dashboard.png"
SERVER_CONFIG = ROOT / "tools" / "jupyter_server_config.py"  # the pre-save hook, as make lab installs it
WIDGET_ERRORS = ("Error displaying widget", "model not found", "could not be displayed")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TRAIN_SECONDS = 15  # about this long, whatever the machine: enough for several redraws
NOTEBOOK = "dashboard_e2e.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

CELLS = [
    f"""\
import time

import torch
from torch import nn

import d2l_helpers as d2l

d2l.set_seed(0)
train_iter, vocab = d2l.load_data_time_machine(32, 35)
heldout_iter, _ = d2l.load_heldout_time_machine(32, 35)
device = d2l.try_gpu()


def gru():
    return d2l.RNNModel(nn.GRU(len(vocab), 128), len(vocab))


# As many epochs as take about {TRAIN_SECONDS} s here: time an epoch (the second; the first warms up).
probe = gru()
for _ in range(2):
    start = time.perf_counter()
    d2l.train_epoch_ch8(probe, train_iter, nn.CrossEntropyLoss(), torch.optim.SGD(probe.parameters(), 1), device, False)
num_epochs = min(200, max(6, round({TRAIN_SECONDS} / (time.perf_counter() - start) / 1.3)))  # held-out: +30 %""",
    """\
history = d2l.train_ch8(gru(), train_iter, vocab, 1, num_epochs, device,
                        heldout_iter=heldout_iter, log_every=1)""",
]

# The state of the training cell (the last code cell), read in the page.
CELL_STATE_JS = """() => {
    const cells = document.querySelectorAll('.jp-Notebook .jp-CodeCell');
    const cell = cells[cells.length - 1];
    if (!cell) return null;
    const image = cell.querySelector('.widget-image');
    const final = cell.querySelector('.jp-OutputArea .jp-RenderedImage img');
    const progress = [...cell.querySelectorAll('.widget-label')]  // 'epoch 17/65 · 0:07 elapsed · ...'
        .map((label) => label.textContent.match(/^epoch (\\d+)\\/(\\d+) /)).find((match) => match);
    return {
        done: progress ? progress[1] / progress[2] : 0,
        prompt: (cell.querySelector('.jp-InputPrompt') || {}).textContent || '',
        src: image ? image.getAttribute('src') : null,
        widgets: [...cell.querySelectorAll('.jupyter-widgets')].filter((e) => e.offsetParent !== null).length,
        final: final ? final.naturalWidth : 0,
        text: (cell.querySelector('.jp-OutputArea') || {}).innerText || '',
    };
}"""

KERNEL_IDLE_JS = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""


# --------------------------------------------------------------------------
# Chromium and JupyterLab
# --------------------------------------------------------------------------


def _find_or_install_chromium():
    path = shutil.which("chromium")
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(
            "apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-liberation",
            shell=True,
            env=env,
            capture_output=True,
            timeout=900,
        )
        path = shutil.which("chromium")
    return path


@pytest.fixture(scope="module")
def chromium():
    path = _find_or_install_chromium()
    if path is None:
        reason = (
            "Debian's chromium is not installed and could not be installed here "
            "(that needs root and apt-get: apt-get install chromium)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; in CI this test must run (.ci/run installs chromium)")
        pytest.skip(reason)
    return path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """A JupyterLab server on 127.0.0.1 serving ``root``, with its own config, settings and runtime dirs."""

    app = "lab"
    python = sys.executable

    def __init__(self, root: Path, home: Path):
        self.root, self.home = root, home
        self.config = home / "jupyter_server_config.py"
        self.config.write_text(
            "from jupyterlab.galata import configure_jupyter_server\n"
            "configure_jupyter_server(c)\n"
            "c.ServerApp.ip = '127.0.0.1'\n"
            "c.ServerApp.allow_root = True\n"  # CI runs as root
            f"c.ServerApp.root_dir = {str(root)!r}\n"
            f"c.LabApp.workspaces_dir = {str(home / 'workspaces')!r}\n"
            "c.LabApp.news_url = None\n"
            "c.LabApp.check_for_updates_class = 'jupyterlab.handlers.announcements.NeverCheckForUpdate'\n"
            f"exec(compile(open({str(SERVER_CONFIG)!r}).read(), {str(SERVER_CONFIG)!r}, 'exec'))\n"
        )
        self.env = dict(os.environ)
        for var in ("D2L_PLOT", "D2L_MAX_EPOCHS"):  # as a learner runs it: auto mode, uncapped
            self.env.pop(var, None)
        self.env.update(
            JUPYTER_CONFIG_DIR=str(home / "config"),
            JUPYTER_RUNTIME_DIR=str(home / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
            TMPDIR=str(home),  # galata's configuration makes temporary folders: keep them in here
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            # One torch thread: on a shared, busy machine two threads can train
            # 20x slower, which would make the run's length unpredictable.
            OMP_NUM_THREADS="1",
        )
        self.proc = None
        self.log = home / "jupyterlab.log"

    def start(self, timeout=120):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [str(self.python), "-m", "jupyter", self.app] + self.arguments(),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "api/status", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer within {timeout} s:\n{self.log_tail()}")

    def arguments(self):
        return [f"--config={self.config}", f"--ServerApp.port={self.port}"]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # jupyter shuts its kernels down on SIGTERM
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_tail(self, n=3000):
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


class ClassicNotebook(JupyterLab):
    """The classic Notebook 6.5 server of the Colab-like environment (ipywidgets 7.7.1, widgetsnbextension 3.6)."""

    app = "notebook"

    def __init__(self, root: Path, home: Path):
        super().__init__(root, home)
        self.python = colab_python()
        self.config = home / "jupyter_notebook_config.py"  # the classic Notebook's own file: the pre-save hook only
        self.config.write_text(f"exec(compile(open({str(SERVER_CONFIG)!r}).read(), {str(SERVER_CONFIG)!r}, 'exec'))\n")

    def arguments(self):
        return [
            f"--config={self.config}",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--NotebookApp.token=",
            "--NotebookApp.password=",
            "--allow-root",
            f"--notebook-dir={self.root}",
        ]


@pytest.fixture
def classic(tmp_path):
    (tmp_path / "work").mkdir()
    server = ClassicNotebook(tmp_path / "work", tmp_path)
    yield server
    server.stop()


@pytest.fixture
def lab(tmp_path):
    (tmp_path / "work").mkdir()
    server = JupyterLab(tmp_path / "work", tmp_path)
    yield server
    server.stop()


# The English edition's code (d2l 1.0): Trainer.fit draws the board in the same live panel.
FIT_CELLS = [
    f"""\
import time

import d2l_helpers as d2l

d2l.set_seed(0)
data = d2l.TimeMachine(batch_size=1024, num_steps=32)


def model():
    gru = d2l.GRU(num_inputs=len(data.vocab), num_hiddens=32)
    return d2l.RNNLM(gru, vocab_size=len(data.vocab), lr=4)


# As many epochs as take about {TRAIN_SECONDS} s here (the second epoch timed; the first warms up).
probe = model()
d2l.Trainer(max_epochs=1, gradient_clip_val=1, plot="off").fit(probe, data)
start = time.perf_counter()
d2l.Trainer(max_epochs=1, gradient_clip_val=1, plot="off").fit(probe, data)
max_epochs = min(300, max(6, round({TRAIN_SECONDS} / (time.perf_counter() - start))))""",
    """\
trainer = d2l.Trainer(max_epochs=max_epochs, gradient_clip_val=1)
trainer.fit(model(), data)""",
]


def _write_notebook(path: Path, cells=CELLS):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)


def _open_notebook(browser, lab, timeout_s=120):
    page = browser.new_page(viewport={"width": 1000, "height": 1000})
    page.goto(f"{lab.url}lab/tree/{NOTEBOOK}")
    page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout_s * 1000, polling=250)
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # a tidier screenshot
    return page


def _screenshot_panel(page):
    """Save the training cell (code and running panel, plus a few printed lines) to docs/dashboard.png."""
    clip = page.evaluate(
        """() => {
            const cells = document.querySelectorAll('.jp-Notebook .jp-CodeCell');
            const cell = cells[cells.length - 1];
            cell.scrollIntoView({block: 'start'});
            const c = cell.getBoundingClientRect();
            const panel = cell.querySelector('.widget-vbox').getBoundingClientRect();
            return {x: c.left, y: c.top, width: c.width, height: Math.min(c.bottom, panel.bottom + 60) - c.top};
        }"""
    )
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), clip=clip)


# --------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------


def _watch_training(page, state_js, screenshot=None, timeout_s=240, stop_after_changes=None):
    """Poll the training cell until it is done (or has changed its image ``stop_after_changes`` times).

    Returns (image changes seen while busy, whether it was busy, the last state, a description).
    """
    changes_while_busy, shot, busy_seen, previous, state = 0, False, False, None, None
    started, deadline = time.monotonic(), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = page.evaluate(state_js)
        busy = state is not None and "*" in state["prompt"]
        busy_seen |= busy
        if busy and state["src"]:
            if previous is not None and state["src"] != previous:
                changes_while_busy += 1
            previous = state["src"]
            if screenshot and changes_while_busy >= 2 and state["done"] >= 0.6 and not shot:
                screenshot(page)  # the panel well into training, the curves well drawn
                shot = True
            if stop_after_changes is not None and changes_while_busy >= stop_after_changes:
                break
        if busy_seen and not busy and state["final"]:
            break
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    info = f"after {elapsed:.0f} s: {changes_while_busy} image changes while busy, last state {state}"
    return changes_while_busy, busy_seen, state, info


DIRTY_JS = "() => window.jupyterapp.shell.currentWidget.context.model.dirty"

# Watches every painted frame (requestAnimationFrame) of the training cell's live panel: how many image
# elements it had (a re-rendered panel makes a new one), frames where its image reported no picture
# after it had shown one, and the heights the panel had (a jump is a visible blink).
WATCH_PAINTS_JS = """() => {
    const seen = {frames: 0, blank: 0, heights: new Set(), images: new Set(), shown: false};
    const tick = () => {
        const cells = document.querySelectorAll('.jp-Notebook .jp-CodeCell');
        const box = cells.length ? cells[cells.length - 1].querySelector('.widget-vbox') : null;
        const image = box && box.querySelector('.widget-image');
        if (image) {
            seen.frames += 1;
            seen.images.add(image);
            if (image.naturalWidth > 0) seen.shown = true; else if (seen.shown) seen.blank += 1;
            seen.heights.add(Math.round(box.getBoundingClientRect().height));
        }
        requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    window.__d2lPaints = {report: () => ({
        frames: seen.frames, blank: seen.blank, heights: [...seen.heights], images: seen.images.size})};
}"""


def _saved_as_a_picture(path: Path):
    """The notebook on disk: the training cell's panel is a PNG, no widget view, no panel widget state left."""
    saved = json.loads(path.read_text())
    outputs = saved["cells"][-1]["outputs"]
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 1 and "".join(pictures[0]["data"]["text/plain"]) == "<d2l training plot>", outputs
    assert WIDGET_VIEW not in json.dumps(saved["cells"]), "the pre-save hook left a widget view"
    models = saved["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    assert "ImageModel" not in {m["model_name"] for m in models.get("state", {}).values()}
    return pictures[0]["data"]["image/png"]


def _reopened_shows_the_picture(page, state_js):
    """After a restart: the saved frame is an image, no widget, no widget error, and opening changed nothing."""
    page.wait_for_function(f"() => ({state_js})().final > 0", timeout=60_000)
    page.wait_for_timeout(2000)  # (time for a widget error, or a metadata rewrite, to show)
    state = page.evaluate(state_js)
    assert state["final"] > 400 and state["widgets"] == 0 and state["src"] is None, state
    body = page.inner_text("body")
    assert not [error for error in WIDGET_ERRORS if error in body], body[-2000:]
    return state


def test_dashboard_runs_live_in_jupyterlab_and_is_saved_as_an_image(chromium, lab):
    from playwright.sync_api import sync_playwright

    path = lab.root / NOTEBOOK
    _write_notebook(path)
    lab.start()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        try:
            # 1. Saved while training runs, then reopened after the kernel is gone: the latest frame, as a picture.
            page = _open_notebook(browser, lab)
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")  # not awaited
            changes, busy_seen, state, info = _watch_training(page, CELL_STATE_JS, stop_after_changes=2)
            assert busy_seen and changes >= 2, info
            page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
            page.wait_for_timeout(1500)
            first = _saved_as_a_picture(path)
            assert page.evaluate(CELL_STATE_JS)["src"], "the open notebook keeps its live panel after the save"
            page.close()
            lab.stop()  # the kernel goes with the server, mid-training
            # ... saved, reopened, saved again (Ctrl+S, or the autosave of a notebook marked modified), reopened:
            for _ in range(2):
                lab.start()
                page = _open_notebook(browser, lab)
                _reopened_shows_the_picture(page, CELL_STATE_JS)
                assert page.evaluate(DIRTY_JS) is False, "opening the notebook modified it"
                page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
                page.wait_for_timeout(1500)
                assert _saved_as_a_picture(path) == first  # the same frame, every save
                page.close()
                lab.stop()
            lab.start()
            page = _open_notebook(browser, lab)
            _reopened_shows_the_picture(page, CELL_STATE_JS)
            print(f"\nsaved mid-run, reopened and saved twice: the latest frame shows ({len(first)} base64 chars)")

            # 2. Run again, to the end, watching the plot while the training cell is busy.
            page.evaluate(WATCH_PAINTS_JS)
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            changes_while_busy, busy_seen, state, info = _watch_training(page, CELL_STATE_JS, _screenshot_panel)
            assert busy_seen, info
            assert changes_while_busy >= 3, info
            assert SCREENSHOT.stat().st_size > 10_000, info
            paints = page.evaluate("() => window.__d2lPaints.report()")
            print(f"\npainted frames of the live panel: {paints}")
            # The frame kept for a save does not re-render the panel: one image element, one height all along.
            # (A panel re-rendered by an update of its own output had a new image element each time, and its
            # height dropped from 369 to 89 px for a painted frame or two: a blink. "blank" counts frames where
            # the one image reported no picture while a new one loaded; its height did not change.)
            assert paints["images"] == 1 and len(paints["heights"]) == 1, paints

            # 3. Done: a static image where the panel was, the book's lines printed under it.
            assert state["final"] > 400 and state["widgets"] == 0 and state["src"] is None, info
            assert "tokens/sec on " in state["text"] and state["text"].count("time traveller") >= 7, info
            assert "Error displaying widget" not in page.inner_text("body")
            print(f"dashboard e2e: {info.split(', last state')[0]}")

            # 4. Saved: a PNG and no widget view; no widget state but for closed, emptied models.
            page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
            page.wait_for_timeout(1500)
            saved = json.loads(path.read_text())
            outputs = saved["cells"][-1]["outputs"]
            assert [o for o in outputs if "image/png" in o.get("data", {})], outputs
            assert WIDGET_VIEW not in json.dumps(saved["cells"])
            models = saved["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
            assert "ImageModel" not in {m["model_name"] for m in models.get("state", {}).values()}
            page.close()

            # ... and reopened after a server restart: still the image, no widget error.
            lab.stop()
            lab.start()
            page = _open_notebook(browser, lab)
            page.wait_for_function(f"() => ({CELL_STATE_JS})().final > 0", timeout=60_000)
            state = page.evaluate(CELL_STATE_JS)
            assert state["widgets"] == 0 and state["src"] is None, state
            assert "Error displaying widget" not in page.inner_text("body")
        except Exception:
            print(lab.log_tail())
            raise
        finally:
            browser.close()


def test_trainer_fit_draws_the_english_editions_board_live_in_jupyterlab(chromium, lab):
    from playwright.sync_api import sync_playwright

    path = lab.root / NOTEBOOK
    _write_notebook(path, FIT_CELLS)
    lab.start()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = _open_notebook(browser, lab)
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            changes_while_busy, busy_seen, state, info = _watch_training(page, CELL_STATE_JS)
            assert busy_seen and changes_while_busy >= 3, info  # frames change while fit runs
            assert state["final"] > 300 and state["widgets"] == 0 and state["src"] is None, info  # then a PNG
            assert "Error displaying widget" not in page.inner_text("body")
            page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
            page.wait_for_timeout(1500)
            saved = json.loads(path.read_text())
            assert [o for o in saved["cells"][-1]["outputs"] if "image/png" in o.get("data", {})]
            assert WIDGET_VIEW not in json.dumps(saved["cells"])
            print(f"\nTrainer.fit e2e: {info.split(', last state')[0]}")
        except Exception:
            print(lab.log_tail())
            raise
        finally:
            browser.close()


# The training cell in the classic Notebook's page.
CLASSIC_CELL_STATE_JS = """() => {
    const cells = document.querySelectorAll('#notebook .cell.code_cell');
    const cell = cells[cells.length - 1];
    if (!cell) return null;
    const image = cell.querySelector('.widget-image');
    const final = cell.querySelector('.output_png img');
    const progress = [...cell.querySelectorAll('.widget-label')]
        .map((label) => label.textContent.match(/^epoch (\\d+)\\/(\\d+) /)).find((match) => match);
    return {
        done: progress ? progress[1] / progress[2] : 0,
        prompt: (cell.querySelector('.input_prompt') || {}).textContent || '',
        src: image ? image.getAttribute('src') : null,
        widgets: [...cell.querySelectorAll('.jupyter-widgets')].filter((e) => e.offsetParent !== null).length,
        final: final ? final.naturalWidth : 0,
        text: (cell.querySelector('.output') || {}).innerText || '',
    };
}"""

CLASSIC_KERNEL_IDLE_JS = """() => {
    const nb = window.Jupyter && window.Jupyter.notebook;
    return !!(nb && nb.kernel && nb.kernel.is_connected()) &&
        !!document.querySelector('#kernel_indicator_icon.kernel_idle_icon');
}"""


def _open_classic(browser, classic):
    page = browser.new_page(viewport={"width": 1000, "height": 1000})
    page.goto(f"{classic.url}notebooks/{NOTEBOOK}")
    page.wait_for_function(CLASSIC_KERNEL_IDLE_JS, timeout=120_000, polling=250)
    return page


def _classic_save(page):
    page.evaluate("() => window.Jupyter.notebook.save_notebook()")
    page.wait_for_timeout(2000)


def test_dashboard_runs_live_in_the_classic_notebook_with_ipywidgets_7(chromium, classic):
    from playwright.sync_api import sync_playwright

    assert (COLAB / "bin" / "jupyter-notebook").exists()
    path = classic.root / NOTEBOOK
    _write_notebook(path)
    classic.start()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        try:
            # Saved mid-run, the server stopped, reopened, saved again, reopened: the latest frame, as a picture.
            page = _open_classic(browser, classic)
            page.evaluate("() => { window.Jupyter.notebook.execute_all_cells(); }")
            changes, busy_seen, state, info = _watch_training(page, CLASSIC_CELL_STATE_JS, stop_after_changes=2)
            assert busy_seen and changes >= 2, info
            _classic_save(page)
            first = _saved_as_a_picture(path)
            page.close()
            classic.stop()
            for _ in range(2):
                classic.start()
                page = _open_classic(browser, classic)
                _reopened_shows_the_picture(page, CLASSIC_CELL_STATE_JS)
                _classic_save(page)
                assert _saved_as_a_picture(path) == first
                page.close()
                classic.stop()
            classic.start()
            page = _open_classic(browser, classic)
            _reopened_shows_the_picture(page, CLASSIC_CELL_STATE_JS)
            print("\nclassic Notebook: saved mid-run, reopened and saved twice: the latest frame shows")

            # Run to the end: the ipywidgets 7 panel repaints while the cell runs, then the PNG.
            page.evaluate("() => { window.Jupyter.notebook.execute_all_cells(); }")
            changes_while_busy, busy_seen, state, info = _watch_training(page, CLASSIC_CELL_STATE_JS)
            assert busy_seen, info
            assert changes_while_busy >= 3, info  # the ipywidgets 7 panel repaints while the cell runs
            assert state["final"] > 400 and state["widgets"] == 0 and state["src"] is None, info
            for _ in range(50):  # the prompt can show the end before the last printed lines are rendered
                if "tokens/sec on " in state["text"]:
                    break
                page.wait_for_timeout(200)
                state = page.evaluate(CLASSIC_CELL_STATE_JS)
            assert "tokens/sec on " in state["text"], info
            body = page.inner_text("body")
            assert not [error for error in WIDGET_ERRORS if error in body], body[-2000:]
            print(f"classic Notebook + ipywidgets 7: {info.split(', last state')[0]}")
        except Exception:
            print(classic.log_tail())
            raise
        finally:
            browser.close()
