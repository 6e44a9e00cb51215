"""What the panels leave behind: the frame a mid-run save keeps, the pre-save hook, the figures' words and layout.

1. Every frame puts the latest picture, captioned as saved mid-run, beside the
   widget view in the panel's one output (d2l_helpers.panels).
2. The Jupyter pre-save hook (d2l_helpers.jupyter_hook, set by
   tools/jupyter_server_config.py) writes such an output as its picture, on
   every save, through a real jupyter_server contents manager.
3. The final figures (training, the 1.0 board, the sweep) have every word
   inside the image; the sweep's figure names its parameters, the best result
   once, no ETA once it ended, and the epoch cap; the 1.0 board reads like
   train_ch8's panel.
4. ``TrainingInterrupted`` renders in IPython as one line, and in full when asked again (``%tb``).

(test_browser.py checks the same in JupyterLab and the classic Notebook.)
"""

import base64
import copy
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeDisplay
from PIL import Image

import d2l_helpers as d2l
from d2l_helpers import board as board_mod
from d2l_helpers import dashboard as db
from d2l_helpers import jupyter_hook
from d2l_helpers import sweep_panel as sp
from d2l_helpers.sweep import expand_grid
from d2l_helpers.sweep_results import Record, SweepResults

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tools" / "jupyter_server_config.py"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _pixels(png_b64_or_bytes) -> np.ndarray:
    raw = base64.b64decode(png_b64_or_bytes) if isinstance(png_b64_or_bytes, str) else bytes(png_b64_or_bytes)
    return np.asarray(Image.open(io.BytesIO(raw)).convert("RGB")).astype(int)


def _texts_outside(figure):
    """What of ``figure`` reaches beyond the image, as drawn (call it after the PNG is made): [] when nothing does.

    The figure's tight bounding box covers everything drawn (titles, tick
    labels, legends, texts); each title is also checked on its own, so that a
    failure names it.
    """
    renderer = figure.canvas.get_renderer()
    outside = []
    for ax in figure.axes:
        for title in (ax.title, ax._left_title, ax._right_title):
            if title.get_text().strip():
                box = title.get_window_extent(renderer)
                if (
                    box.x0 < -0.5
                    or box.y0 < -0.5
                    or box.x1 > figure.bbox.width + 0.5
                    or box.y1 > figure.bbox.height + 0.5
                ):
                    outside.append((title.get_text(), tuple(round(v) for v in box.extents)))
    tight, whole = figure.get_tightbbox(renderer), figure.bbox_inches  # (in inches)
    if tight.x0 < -0.01 or tight.y0 < -0.01 or tight.x1 > whole.x1 + 0.01 or tight.y1 > whole.y1 + 0.01:
        outside.append(("everything drawn", tuple(round(v, 2) for v in tight.extents)))
    return outside


# --------------------------------------------------------------------------
# 1. The frame a save keeps
# --------------------------------------------------------------------------


def _check_kept_frames(display, frames):
    """The panel's output, then its frame's: ``frames`` refreshes replaced the frame, never the panel."""
    shown, kept = display.shown
    assert set(shown) == {"text/plain", WIDGET_VIEW} and set(kept) == {WIDGET_VIEW, "image/png"}
    assert kept[WIDGET_VIEW]["model_id"] != shown[WIDGET_VIEW]["model_id"]  # a hidden widget's view, not the panel's
    updates = display.updates_of(1)
    assert display.updates_of(0) == [] and len(updates) == frames
    assert all(set(b) == set(kept) and b[WIDGET_VIEW] == kept[WIDGET_VIEW] for b in updates)
    marks = [m for m, target in zip(display.metadata, display.targets) if target == 1]
    assert marks == [{"d2l_helpers": {"frame_of": shown[WIDGET_VIEW]["model_id"]}}] * frames  # what the hook reads
    return updates


def test_a_refresh_keeps_the_latest_picture_for_a_save_every_10_s_captioned_as_saved_mid_run():
    clock, display = FakeClock(), FakeDisplay()
    panel = db.WidgetProgress(40, clock=clock, cpu_clock=clock, display=display)
    kept_at = []
    for epoch in range(1, 26):
        clock.now += 1.0
        kept = panel.panel.kept
        panel.update(epoch, 20.0 / epoch + 1, tokens_per_sec=1000.0)
        if panel.panel.kept > kept:
            kept_at.append(epoch)
            live = _pixels(panel.image.value)  # the live frame the kept picture was made from
    assert panel.frames == 13  # epochs 1, 3, 5, ..., 25 (every 2 s)
    assert kept_at == [11, 21]  # the refreshes at least 10 s after the last kept frame (the first: when shown)
    updates = _check_kept_frames(display, 2)
    kept = _pixels(updates[-1]["image/png"])
    assert kept.shape == live.shape == (280, 560, 3)
    # The kept picture is the live frame plus the caption, drawn in dark red above the plot.
    differs = np.argwhere((kept != live).any(axis=2))
    assert len(differs) > 200 and differs[:, 0].max() < 0.1 * 280  # only in the title's band, at the top
    red = (kept[:, :, 0] > 120) & (kept[:, :, 1] < 60) & (kept[:, :, 2] < 60)
    assert red[:28].sum() > 100 and red[28:].sum() == 0
    assert panel.plot.title.get_text() == ""  # the live frames have no caption drawn in them
    panel.close("done")
    (final,) = display.updates_of(0)
    assert set(final) == {"text/plain", "image/png"} and display.updates_of(1)[-1] == {}  # the figure; no frame
    assert panel.panel.keeper.comm is None  # the hidden widget is closed with the rest


def test_the_sweep_panel_and_the_board_keep_their_latest_picture_too(monkeypatch):
    # the sweep
    results = SweepResults([Record(index=i, params=c) for i, c in enumerate(expand_grid({"a": [1, 2, 3]}))])
    display = FakeDisplay()
    panel = sp.SweepPanel(results, 3, show=display)
    for record in results:
        record.status, record.metrics = "ok", {"value": float(record.params["a"])}
        panel.update(record)
    assert panel.frames >= 2
    _check_kept_frames(display, panel.panel.kept)
    panel.close("done")
    assert set(display.updates_of(0)[-1]) == {"text/plain", "image/png"}
    # the 1.0 board
    displays = []
    monkeypatch.setattr(db, "_in_kernel", lambda: True)
    real_show = db.show_panel
    monkeypatch.setattr(
        db,
        "show_panel",
        lambda box, png, **kw: real_show(box, png, displays.append(FakeDisplay()) or displays[-1], **kw),
    )
    board = d2l.ProgressBoard()
    progress = board_mod.FitProgress(board, 3, "widget", clock=FakeClock(), cpu_clock=lambda: 0.0)
    for epoch in (1, 2, 3):
        board.draw(epoch, 10.0 - epoch, "train_ppl")
        progress.epoch_done(epoch, speed=1000.0)
    (display,) = displays
    _check_kept_frames(display, progress.panel.kept)
    progress.close("done")
    assert set(display.updates_of(0)[-1]) == {"text/plain", "image/png"}


# --------------------------------------------------------------------------
# 2. The pre-save hook
# --------------------------------------------------------------------------


def _notebook(frame_png="iVBORw0KGgo="):
    """A notebook as a front end saves it mid-run: a panel and its frame, a learner's slider, widget state."""
    return {
        "cells": [
            {
                "cell_type": "code",
                "source": "train_ch8(...)",
                "metadata": {},
                "execution_count": 1,
                "outputs": [
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {
                            "text/plain": db.PLAIN_TEXT,
                            WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": "box"},
                        },
                    },
                    {
                        "output_type": "display_data",
                        "metadata": {"d2l_helpers": {"frame_of": "box"}},
                        "data": {
                            "image/png": frame_png,
                            WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": "keeper"},
                        },
                    },
                    {"output_type": "stream", "name": "stdout", "text": "time traveller\n"},
                ],
            },
            {
                "cell_type": "code",
                "source": "slider",
                "metadata": {},
                "execution_count": 2,
                "outputs": [
                    {
                        "output_type": "execute_result",
                        "execution_count": 2,
                        "metadata": {},
                        "data": {"text/plain": "IntSlider()", WIDGET_VIEW: {"model_id": "slider"}},
                    }
                ],
            },
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
            "widgets": {
                WIDGET_STATE: {
                    "version_major": 2,
                    "version_minor": 0,
                    "state": {
                        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_image", "IPY_MODEL_bar"]}},
                        "image": {"model_name": "ImageModel", "state": {"layout": "IPY_MODEL_layout1"}},
                        "bar": {"model_name": "IntProgressModel", "state": {"layout": "IPY_MODEL_shared"}},
                        "layout1": {"model_name": "LayoutModel", "state": {}},
                        "slider": {"model_name": "IntSliderModel", "state": {"layout": "IPY_MODEL_shared"}},
                        "shared": {"model_name": "LayoutModel", "state": {}},
                        "keeper": {"model_name": "HTMLModel", "state": {"layout": "IPY_MODEL_layout2"}},
                        "layout2": {"model_name": "LayoutModel", "state": {"display": "none"}},
                    },
                }
            },
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_the_hook_saves_a_panel_as_its_picture_and_leaves_other_widgets_alone():
    nb = _notebook()
    model = {"type": "notebook", "content": nb}
    jupyter_hook.pre_save_hook(model=model, path="a.ipynb", contents_manager=None)
    (picture, printed), (slider,) = nb["cells"][0]["outputs"], nb["cells"][1]["outputs"]
    # the panel is gone, its frame stands in its place as a plain picture
    assert picture["data"] == {"text/plain": db.PLAIN_TEXT, "image/png": "iVBORw0KGgo="} and printed["name"] == "stdout"
    assert WIDGET_VIEW in slider["data"]  # a widget without a picture of itself stays a widget
    # the panel's models go with its view; the slider's, and the layout it shares with the panel, stay
    assert set(nb["metadata"]["widgets"][WIDGET_STATE]["state"]) == {"slider", "shared"}
    again = copy.deepcopy(nb)
    jupyter_hook.pre_save_hook(model={"type": "notebook", "content": again})
    assert again == nb  # every later save: the same file


def test_the_hook_drops_the_widget_state_it_emptied_and_ignores_what_is_not_a_notebook():
    nb = _notebook()
    del nb["cells"][1]
    for model_id in ("slider", "shared"):  # the panel's models only
        del nb["metadata"]["widgets"][WIDGET_STATE]["state"][model_id]
    del nb["metadata"]["widgets"][WIDGET_STATE]["state"]["bar"]["state"]["layout"]
    assert jupyter_hook.strip_widget_views(nb) == 2  # the panel's view and its frame's
    assert "widgets" not in nb["metadata"]  # nothing left in it: no empty entry either
    text = {"type": "file", "format": "text", "content": "not a notebook"}
    jupyter_hook.pre_save_hook(model=text)
    assert text["content"] == "not a notebook"


def test_once_training_ended_the_hook_drops_the_emptied_frame_and_keeps_the_final_figure():
    nb = _notebook()
    panel, frame, _ = nb["cells"][0]["outputs"]
    panel["data"] = {"text/plain": db.PLAIN_TEXT, "image/png": "ZmluYWw="}  # Panel.finish: the final figure...
    frame["data"] = {}  # ...and the frame emptied
    jupyter_hook.strip_widget_views(nb)
    assert [o.get("data") for o in nb["cells"][0]["outputs"]] == [panel["data"], None]  # the figure, the stream


def test_the_server_config_sets_the_hook_without_importing_the_package(tmp_path):
    """The config runs inside the Jupyter server: it must not import torch (the package's __init__ does)."""
    code = f"""
import sys
from traitlets.config import Config
c = Config()
namespace = {{"get_config": lambda: c, "c": c}}
exec(compile(open({str(CONFIG)!r}).read(), "jupyter_server_config.py", "exec"), namespace)
hook = c.ContentsManager.pre_save_hook
print(hook.__module__, hook.__name__, "torch" in sys.modules, "d2l_helpers" in sys.modules)
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["d2l_helpers_jupyter_hook", "pre_save_hook", "False", "False"]


def test_a_real_contents_manager_with_the_config_saves_the_picture_every_time(tmp_path):
    """jupyter_server's FileContentsManager, configured by tools/jupyter_server_config.py, saves twice."""
    from jupyter_server.services.contents.filemanager import FileContentsManager
    from traitlets.config import Config

    config = Config()
    exec(compile(CONFIG.read_text(), str(CONFIG), "exec"), {"get_config": lambda: config, "c": config})
    manager = FileContentsManager(root_dir=str(tmp_path), config=config)
    assert callable(manager.pre_save_hook)
    for _ in range(2):  # save, reopen (get), save again: the front end sends what it holds
        manager.save({"type": "notebook", "format": "json", "content": _notebook()}, "run.ipynb")
        on_disk = json.loads((tmp_path / "run.ipynb").read_text())
        assert set(on_disk["cells"][0]["outputs"][0]["data"]) == {"text/plain", "image/png"}
        assert WIDGET_VIEW in on_disk["cells"][1]["outputs"][0]["data"]
        reopened = manager.get("run.ipynb")["content"]
        assert WIDGET_VIEW not in json.dumps(reopened["cells"][0])


# --------------------------------------------------------------------------
# 3. The final figures: words, layout, readability
# --------------------------------------------------------------------------


def _sweep(grid, metric=None, values=None, run=None):
    configs = expand_grid(grid)
    results = SweepResults([Record(index=i, params=c) for i, c in enumerate(configs)], metric=metric)
    panel = sp.SweepPanel(results, len(configs), show=FakeDisplay(), clock=FakeClock())
    for record in results[:run]:
        value = values(**record.params) if values else float(record.index)
        record.status, record.metrics = "ok", {metric or "value": value}
        panel.update(record)
    return results, panel


GRID = {"num_hiddens": [64, 128, 256], "num_steps": [5, 35, 100], "lr": [0.25, 1.0, 4.0]}


def _held_out(num_hiddens, num_steps, lr):
    return 5 + 10 / lr**0.5 + 100 / num_hiddens + num_steps / 100


@pytest.mark.parametrize("capped", [False, True])
def test_the_sweeps_final_figure_has_its_title_inside_names_the_metric_once_and_no_eta(monkeypatch, capped):
    if capped:
        monkeypatch.setenv("D2L_MAX_EPOCHS", "5")
    else:
        monkeypatch.delenv("D2L_MAX_EPOCHS", raising=False)
    results, panel = _sweep(GRID, metric="best held-out", values=_held_out)
    panel.close("done")
    title = panel.plot.title.get_text().splitlines()
    assert title[0].startswith("sweep finished: 27/27 done in ") and "ETA" not in title[0]
    assert title[1] == "best held-out 10.44 at lr=4.0, num_hiddens=256, num_steps=5"  # the metric's name once
    assert title[2:] == (["epochs capped by D2L_MAX_EPOCHS=5"] if capped else [])
    assert _texts_outside(panel.plot.figure) == []  # the whole title (and every label) is in the image
    assert panel.best_label.value == title[1]
    cap_labels = [w for w in panel.box.children if "D2L_MAX_EPOCHS" in str(getattr(w, "value", ""))]
    assert len(cap_labels) == capped  # the live panel says it too, as train_ch8 does


def test_a_long_title_is_wrapped_inside_the_image():
    grid = {"a_rather_long_parameter_name": [1, 2], "another_long_one": ["x" * 30, "y" * 30]}
    results, panel = _sweep(grid, run=2)
    panel.close("interrupted")
    lines = panel.plot.title.get_text().splitlines()
    assert lines[0] == "sweep interrupted: 2/4 done · 0:00 elapsed" and len(lines) >= 3  # the best line, wrapped
    assert _texts_outside(panel.plot.figure) == []


def test_the_sweeps_x_axis_names_the_parameters_of_every_point():
    """Groups for the slowest parameter, a colour for the next, the fastest one under each point."""
    results, panel = _sweep(GRID, metric="best held-out", values=_held_out)
    ax = panel.plot.ax
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5", "35", "100"] * 9
    assert ax.get_xlabel() == "num_steps"
    groups = [t.get_text() for t in ax.texts]
    assert groups == ["lr=0.25", "lr=1", "lr=4"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "num_hiddens=64",
        "num_hiddens=128",
        "num_hiddens=256",
    ]
    (points,) = ax.collections
    colours = points.get_facecolors()
    assert len({tuple(c) for c in colours}) == 3 and tuple(colours[0]) == tuple(colours[1]) != tuple(colours[3])


def test_one_parameter_labels_each_point_by_its_value_and_a_mixed_grid_keeps_grid_order():
    results, panel = _sweep({"lr": [0.1, 1.0, 10.0]})
    ax = panel.plot.ax
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1", "1", "10"] and ax.get_xlabel() == "lr"
    configs = [{"a": [1, 2]}, {"b": [3]}]
    results = SweepResults([Record(index=i, params=c) for i, c in enumerate(expand_grid(configs))])
    panel = sp.SweepPanel(results, 3, show=FakeDisplay())
    assert panel.plot.ax.get_xlabel() == "configuration (grid order)"


def test_the_sweeps_live_line_has_an_eta_and_the_text_mode_says_the_cap(monkeypatch):
    monkeypatch.setenv("D2L_MAX_EPOCHS", "5")
    results, panel = _sweep({"a": [1, 2, 3]}, run=1)
    assert " · ETA " in panel.timing_label.value and panel.best_label.value == "best value 0 at a=1"
    lines = []
    sp.TextSweepProgress(results, 2, out=lines.append)
    assert lines == [
        "sweep: 1 of 3 configurations from the cache, running 2",
        "sweep: every training run's epochs capped by D2L_MAX_EPOCHS=5 (unset it for the full runs)",
    ]


def test_the_training_panels_final_figure_has_every_word_inside():
    clock = FakeClock()
    panel = db.WidgetProgress(60, heldout=True, clock=clock, cpu_clock=clock, display=FakeDisplay())
    for epoch in range(1, 38):
        clock.now += 1.0
        panel.update(epoch, 30.0 / epoch + 1, heldout=32.0 / epoch + 1.2, tokens_per_sec=50123.0)
    panel.close("interrupted")
    assert panel.plot.title.get_text() == (
        "interrupted in epoch 38 of 60 · epoch 37: perplexity 1.81 · held-out 2.06\n50,123 tokens/s"  # 2 lines
    )
    assert _texts_outside(panel.plot.figure) == []


def _board_run(label_kind, epochs=1):
    board = d2l.ProgressBoard()
    plot = board_mod.BoardPlot(board)
    for epoch in range(1, epochs + 1):
        board.draw(epoch - 0.5, 20.0 / epoch, f"train_{label_kind}")
        board.draw(epoch, 21.0 / epoch, f"val_{label_kind}")
    return board, plot


def test_the_board_plots_perplexity_on_a_labelled_log_axis_with_markers():
    board, plot = _board_run("ppl", epochs=1)  # one validation point: a marker makes it visible
    plot.frame()
    assert plot.ax.get_yscale() == "log" and plot.ax.get_ylabel() == "perplexity"
    assert list(plot.lines) == ["train_ppl", "val_ppl"]  # d2l 1.0's series names
    assert all(line.get_marker() == "o" for line in plot.lines.values())
    assert plot.ax.get_ylim() == (10.0, 50.0)  # the dashboard's 1-2-5 limits around 20 and 21
    assert _texts_outside(plot.figure) == []


def test_the_board_keeps_a_loss_on_a_linear_axis_labelled_loss():
    board, plot = _board_run("loss", epochs=3)  # LinearRegression plots a loss: it can be near 0, or negative
    plot.frame()
    assert plot.ax.get_yscale() == "linear" and plot.ax.get_ylabel() == "loss"
    board.ylabel = "my label"  # the learner's own label wins
    plot.frame()
    assert plot.ax.get_ylabel() == "my label"


def test_the_boards_final_title_says_the_speed_and_where_it_stopped(monkeypatch):
    monkeypatch.setattr(db, "_in_kernel", lambda: True)
    real_show = db.show_panel
    monkeypatch.setattr(db, "show_panel", lambda box, png, **kw: real_show(box, png, FakeDisplay(), **kw))
    board = d2l.ProgressBoard()
    progress = board_mod.FitProgress(board, 10, "widget", unit="tokens", clock=FakeClock(), cpu_clock=lambda: 0.0)
    for epoch in (1, 2):
        board.draw(epoch, 10.0 - epoch, "train_ppl")
        progress.epoch_done(epoch, sample="time traveller", speed=41234.0)
    assert progress.timing.value.startswith("epoch 2/10 · ") and "sample, epoch 2" in progress.text.value
    assert progress.timing.value.endswith(" · 41,234 tokens/s · train_ppl 8.00")
    progress.close("interrupted", stopped_in=3)
    assert progress.plot.title.get_text() == "interrupted in epoch 3 of 10 · train_ppl 8.00 · 41,234 tokens/s"
    assert _texts_outside(progress.plot.figure) == []


# --------------------------------------------------------------------------
# 4. The one-line traceback
# --------------------------------------------------------------------------


def test_training_interrupted_renders_as_one_line_then_in_full():
    try:
        raise d2l.TrainingInterrupted("Interrupted in epoch 3 of 5; the model keeps its weights.", result=None)
    except d2l.TrainingInterrupted as err:
        error = err
    assert error._render_traceback_() == [
        "TrainingInterrupted: Interrupted in epoch 3 of 5; the model keeps its weights. (%tb shows the full traceback)"
    ]
    full = "".join(error._render_traceback_())  # asked again, as %tb does: the whole traceback
    assert "Traceback" in full and "test_panels.py" in full
