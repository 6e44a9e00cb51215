"""The training dashboard without a frontend: modes, rate limiting, finalisation, text output, plots.

The widget panel runs here with a fake ``display`` and a fake clock; the last
test executes a real notebook with nbclient and checks it under strict nbval.
(The browser test, ``test_browser.py``, watches the panel in JupyterLab.)
"""

import base64
import io
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import zlib

import nbformat
import numpy as np
import pytest
import torch
from fakes import FakeDisplay
from PIL import Image
from torch import nn

import d2l_helpers as d2l
from d2l_helpers import dashboard as db
from d2l_helpers import figures
from d2l_helpers.train import History

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _panel(num_epochs=10, heldout=False, clock=None, display=None):
    clock = clock or FakeClock()
    return db.WidgetProgress(
        num_epochs, heldout=heldout, clock=clock, cpu_clock=clock, display=display or FakeDisplay()
    )


# --------------------------------------------------------------------------
# Choosing the mode
# --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["widget", "text", "off", " Text "])
def test_explicit_mode_wins_over_the_environment(monkeypatch, mode):
    monkeypatch.setenv("D2L_PLOT", "off" if mode.strip() != "off" else "text")
    assert db.resolve_mode(mode) == mode.strip().lower()


@pytest.mark.parametrize("env, expected", [("widget", "widget"), ("TEXT", "text"), (" off ", "off")])
def test_auto_follows_d2l_plot(monkeypatch, env, expected):
    monkeypatch.setenv("D2L_PLOT", env)
    assert db.resolve_mode("auto") == expected


@pytest.mark.parametrize(
    "in_kernel, have_widgets, expected", [(True, True, "widget"), (True, False, "text"), (False, True, "text")]
)
def test_auto_without_d2l_plot_picks_widget_only_in_a_kernel_with_ipywidgets(
    monkeypatch, in_kernel, have_widgets, expected
):
    for env in ("", "auto"):  # unset, or set to auto: both choose by themselves
        monkeypatch.setenv("D2L_PLOT", env)
        monkeypatch.setattr(db, "_in_kernel", lambda: in_kernel)
        monkeypatch.setattr(db, "_have_ipywidgets", lambda: have_widgets)
        assert db.resolve_mode("auto") == expected


def test_this_process_is_not_a_kernel(monkeypatch):
    monkeypatch.delenv("D2L_PLOT")
    assert not db._in_kernel()
    assert db.resolve_mode("auto") == "text"


@pytest.mark.parametrize("mode", ["fancy", "", None, True, 1])
def test_bad_mode_raises_a_clear_value_error(mode):
    with pytest.raises(ValueError, match="plot must be one of 'auto', 'widget', 'text', 'off'"):
        db.make_progress(mode, 10)


def test_bad_d2l_plot_raises_a_value_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("D2L_PLOT", "widgets")
    with pytest.raises(ValueError, match=r"\$D2L_PLOT must be one of widget, text, off .*got 'widgets'"):
        db.make_progress("auto", 10)


def test_make_progress_returns_the_right_display(monkeypatch):
    assert isinstance(db.make_progress("text", 5), db.TextProgress)
    off = db.make_progress("off", 5)
    off.update(1, 3.0)
    off.close("done")
    monkeypatch.setattr(db, "_in_kernel", lambda: True)
    fake = FakeDisplay()
    monkeypatch.setattr("IPython.display.display", fake)
    panel = db.make_progress("widget", 5, heldout=True)
    assert isinstance(panel, db.WidgetProgress) and len(fake.shown) == 2  # the panel, and the frame a save keeps
    panel.close("done")


def test_widget_outside_a_kernel_falls_back_to_text_with_a_warning():
    with pytest.warns(RuntimeWarning, match="needs a Jupyter kernel"):
        assert isinstance(db.make_progress("widget", 5), db.TextProgress)


# --------------------------------------------------------------------------
# Rate limiting
# --------------------------------------------------------------------------


def test_rate_limiter_waits_min_interval_and_longer_after_costly_redraws():
    clock = FakeClock()
    limiter = db.RateLimiter(min_interval=1.0, max_share=0.02, clock=clock)
    assert limiter.ready()  # the first time at once
    limiter.record(0.0, 0.005)  # a cheap redraw (5 ms of CPU): the next one a second later
    clock.now = 0.99
    assert not limiter.ready()
    clock.now = 1.0
    assert limiter.ready()
    limiter.record(1.0, 0.1)  # 100 ms: wait 0.1 / 0.02 = 5 s so that drawing stays at 2 %
    clock.now = 5.99
    assert not limiter.ready()
    clock.now = 6.0
    assert limiter.ready()


def test_panel_redraws_at_most_every_two_seconds_and_always_the_first_and_last_point():
    clock = FakeClock()
    panel = _panel(num_epochs=50, clock=clock)
    first = panel.image.value
    drawn_at = []
    for epoch in range(1, 51):
        clock.now += 0.3  # an epoch takes 0.3 s; each is logged
        frames = panel.frames
        panel.update(epoch, 30.0 / epoch + 1, tokens_per_sec=1000.0, sample=f"sample {epoch}")
        if panel.frames > frames:
            drawn_at.append(epoch)
    assert drawn_at[0] == 1 and drawn_at[-1] == 50  # first and last point always drawn
    times = [0.3 * e for e in drawn_at[:-1]]
    assert db.MIN_INTERVAL == 2.0
    assert all(b - a >= 2.0 - 1e-9 for a, b in zip(times, times[1:]))  # at most one redraw every 2 s
    assert 7 <= len(drawn_at) <= 9  # 15 s of training: about one redraw every 2 s, not fewer
    assert panel.timing.value.startswith("epoch 50/50 · 0:15 elapsed · ETA 0:00 · 1,000 tokens/s · perplexity 1.60")
    assert panel.image.value != first
    assert panel.bar.value == 50
    assert "sample, epoch 50</b> sample 50" in panel.text.value  # the sample says which epoch it is from
    panel.close("done")


def test_the_epoch_and_its_perplexity_are_said_once_in_one_line_that_changes_every_epoch():
    """No caption with the plot's epoch beside a line with another: one label, every epoch (the plot waits)."""
    clock = FakeClock()
    panel = _panel(num_epochs=30, heldout=True, clock=clock)
    labels = [w for w in panel.box.children if hasattr(w, "value") and isinstance(w.value, str) and "/30" in w.value]
    assert labels == [panel.timing]  # the only words with an epoch in them
    for epoch in range(1, 31):
        clock.now += 0.3
        panel.update(epoch, 30.0 / epoch + 1, heldout=40.0 / epoch + 1 if epoch % 10 == 0 else None)
        line = panel.timing.value
        assert line.startswith(f"epoch {epoch}/30 · ") and f"perplexity {30.0 / epoch + 1:.2f}" in line, line
        if epoch >= 10:  # the latest held-out value, said to be from an earlier epoch when it is
            measured = epoch - epoch % 10
            value = f"held-out {40.0 / measured + 1:.2f}"
            assert line.endswith(value if epoch == measured else f"{value} (epoch {measured})"), line
    assert panel.progress_updates == 30 and panel.frames < 30  # (the plot itself is rate-limited)


def test_panel_spaces_out_costly_refreshes():
    clock = FakeClock()
    cpu = iter(range(1000))  # read before and after each refresh: each costs 1/32 s of CPU
    panel = db.WidgetProgress(21, clock=clock, cpu_clock=lambda: next(cpu) / 32, display=FakeDisplay())
    drawn_at = []
    for epoch in range(1, 22):
        clock.now = 0.5 * epoch
        frames = panel.frames
        panel.update(epoch, 10.0)
        if panel.frames > frames:
            drawn_at.append(epoch)
    assert drawn_at == [1, 8, 15, 21]  # every (1/32 s) / 1 % = 3.1 s (more than 2 s), and the last epoch


def test_skipped_points_still_reach_the_next_frame_and_the_final_figure():
    clock = FakeClock()
    panel = _panel(num_epochs=10, heldout=True, clock=clock)
    panel.update(1, 20.0, heldout=25.0)
    for epoch in range(2, 6):  # within the same 2 s: the plot is not drawn, the progress line changes
        panel.update(epoch, 20.0 - epoch, heldout=25.0 - epoch, sample="x<y>")
        assert panel.timing.value.startswith(f"epoch {epoch}/10 ")
    assert panel.frames == 1 and panel.bar.value == 1  # the bar moves with the plot
    assert panel.progress_updates == 5 and "x&lt;y&gt;" in panel.text.value
    clock.now = 2.0
    panel.update(6, 10.0)
    assert panel.frames == 2 and panel.bar.value == 6
    assert list(panel.plot.train_line.get_xdata()) == [1, 2, 3, 4, 5, 6]
    assert list(panel.plot.heldout_line.get_xdata()) == [1, 2, 3, 4, 5]
    panel.close("interrupted")
    assert panel.plot.title.get_text() == "interrupted in epoch 7 of 10 · epoch 6: perplexity 10.00"


# --------------------------------------------------------------------------
# Finalisation
# --------------------------------------------------------------------------


def _check_finalised(panel, display):
    """The panel became one static PNG with the constant text, its frame output emptied, its widgets closed.

    Until then each refresh replaced the frame output: the latest picture (what a save keeps).
    """
    shown, kept = display.shown
    assert set(shown) == {"text/plain", WIDGET_VIEW} and shown["text/plain"] == db.PLAIN_TEXT
    assert shown[WIDGET_VIEW]["model_id"]
    assert set(kept) == {WIDGET_VIEW, "image/png"} and kept[WIDGET_VIEW] != shown[WIDGET_VIEW]  # (no text: nbval)
    (final,) = display.updates_of(0)
    *frames, emptied = display.updates_of(1)
    assert len(frames) == panel.panel.kept and all(
        frame == {**kept, "image/png": frame["image/png"]} for frame in frames
    )
    assert emptied == {}  # nothing to show once training ended (a save drops it)
    assert set(final) == {"image/png", "text/plain"} and final["text/plain"] == db.PLAIN_TEXT
    png = base64.b64decode(final["image/png"])
    assert png.startswith(b"\x89PNG") and _pixels(png).shape == (280, 560, 3)
    assert all(w.comm is None for w in panel.widgets)  # closed: nothing left for a frontend to show
    assert panel.image.value == b""  # nothing big left in the state a notebook runner may store
    return png


@pytest.mark.parametrize(
    "status, title",
    [
        ("done", "3 epochs in 0:03 · perplexity 5.00 · 1,234 tokens/s"),
        ("interrupted", "interrupted in epoch 4 of 10 · epoch 3: perplexity 5.00 · 1,234 tokens/s"),
        ("error", "stopped by an error in epoch 4 of 10 · epoch 3: perplexity 5.00 · 1,234 tokens/s"),
    ],
)
def test_close_replaces_the_panel_by_a_png_with_the_final_numbers(status, title):
    clock, display = FakeClock(), FakeDisplay()
    panel = _panel(num_epochs=10, clock=clock, display=display)
    for epoch, ppl in [(1, 20.0), (2, 9.0), (3, 5.0)]:
        clock.now += 1.0
        panel.update(epoch, ppl, tokens_per_sec=1234.4)
    panel.close(status)
    _check_finalised(panel, display)
    assert panel.plot.title.get_text().replace("\n", " · ") == title  # (in two lines if too wide)
    panel.close(status)  # a second close does nothing
    assert len(display.updates) == panel.panel.kept + 2


def test_close_before_any_point_still_leaves_a_png():
    display = FakeDisplay()
    panel = _panel(display=display)
    panel.close("error")
    _check_finalised(panel, display)
    assert panel.plot.title.get_text() == "stopped by an error in epoch 1 of 10, before any epoch finished"


def test_the_final_png_is_the_live_frame_drawn_in_full():
    plot = db.PerplexityPlot(5)  # (points off the spines, which a full draw paints over the lines)
    for epoch, perplexity in enumerate([10.0, 4.0, 2.0, 1.3], start=1):
        plot.add(epoch, perplexity)
        live = plot.frame("")
    assert np.array_equal(_pixels(live), _pixels(plot.final("")))


def test_a_blitted_frame_equals_a_full_redraw():
    """Frames between changes of the axis limits only draw the lines onto the cached background."""
    blitted, fresh = db.PerplexityPlot(20, heldout=True), db.PerplexityPlot(20, heldout=True)
    for epoch in range(1, 11):
        blitted.add(epoch, 9.0 - 0.3 * epoch, heldout=10.0 if epoch % 2 == 0 else None)
        blitted.frame(f"epoch {epoch}")
        fresh.add(epoch, 9.0 - 0.3 * epoch, heldout=10.0 if epoch % 2 == 0 else None)
    # 8.7 alone: (5, 10); from epoch 2 the held-out 10 raises the top: (5, 20) down to 6.0 at epoch 10
    assert blitted.limits == (5.0, 20.0) and blitted.full_draws == 2
    assert np.array_equal(_pixels(blitted.frame("epoch 10")), _pixels(fresh.frame("epoch 10")))


def test_live_y_axis_fits_the_values_seen_so_far():
    """A fall from 17 to 8 fills the plot instead of looking flat on a 1-50 axis; few full redraws."""
    plot = db.PerplexityPlot(100, heldout=True)
    limits = []
    for epoch in range(1, 101):
        plot.add(epoch, 16.0 * 0.99**epoch + 1.0, heldout=(17.0 * 0.995**epoch) if epoch % 10 == 0 else None)
        plot.frame(f"epoch {epoch}")
        limits.append(plot.limits)
    assert limits[0] == (10.0, 20.0)  # 16.8: not (1, 50)
    assert limits[-1] == (5.0, 20.0)  # 6.8 ... 16.8 and held-out 10.3 ... 16.2
    assert plot.ax.get_ylim() == (5.0, 20.0)
    assert plot.full_draws == len(set(limits)) <= 3  # a full draw only when the limits change


@pytest.mark.parametrize(
    "values, limits",
    [([27.3, 1.05], (1.0, 50.0)), ([27.3, 19.0], (10.0, 50.0)), ([17.0, 8.0], (5.0, 20.0)), ([4.1, 3.9], (2.0, 5.0))]
    + [([0.4, 2.0], (0.2, 5.0))],
)
def test_axis_limits_snap_to_1_2_5_and_never_below_1_for_perplexity(values, limits):
    assert figures._nice_limits(values) == limits


# --------------------------------------------------------------------------
# Through train_ch8: normal end, error, Ctrl-C, second Ctrl-C
# --------------------------------------------------------------------------


class _Failing(nn.Module):
    """A model that, at its ``at``-th training step, runs ``action`` (raise, or send SIGINT)."""

    def __init__(self, vocab, at, action):
        super().__init__()
        self.net, self.at, self.action, self.calls = d2l.RNNModel(nn.GRU(len(vocab), 16), len(vocab)), at, action, 0

    def begin_state(self, device, batch_size=1):
        return self.net.begin_state(device=device, batch_size=batch_size)

    def forward(self, X, state):
        self.calls += torch.is_grad_enabled()  # count training steps, not predictions
        if torch.is_grad_enabled() and self.calls == self.at:
            self.action()
        return self.net(X, state)


@pytest.fixture
def widget_panels(monkeypatch):
    """Make train_ch8's default display the widget panel, with a fake display; yield the panels made."""
    panels = []

    class Spy(db.WidgetProgress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, display=FakeDisplay(), **kwargs)
            panels.append(self)

    monkeypatch.setenv("D2L_PLOT", "widget")
    monkeypatch.setattr(db, "_in_kernel", lambda: True)
    monkeypatch.setattr(db, "WidgetProgress", Spy)
    return panels


@pytest.fixture
def tiny_data(time_machine):
    corpus, vocab = time_machine
    return d2l.SeqDataLoader(8, 10, False, 10000, seed=0, corpus=corpus[:1000], vocab=vocab), vocab  # 12 batches


def _raise(exc):
    def action():
        raise exc

    return action


def _sigint():
    os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize(
    "action, raises, title",
    [
        (None, None, "5 epochs in 0:"),
        (_raise(RuntimeError("boom")), RuntimeError, "stopped by an error in epoch 3 of 5 · epoch 2: perplexity "),
        # a second Ctrl-C: at once; Kernel > Interrupt: ends the batch. Both then stop the cell.
        (_raise(KeyboardInterrupt()), d2l.TrainingInterrupted, "interrupted in epoch 3 of 5 · epoch 2: perplexity "),
        (_sigint, d2l.TrainingInterrupted, "interrupted in epoch 3 of 5 · epoch 2: perplexity "),
    ],
)
def test_train_ch8_finalises_the_panel_however_training_ends(widget_panels, tiny_data, capsys, action, raises, title):
    train_iter, vocab = tiny_data
    torch.manual_seed(0)
    net = _Failing(vocab, at=30 if action else -1, action=action)  # 12 steps an epoch: the 30th is in epoch 3
    if raises:
        with pytest.raises(raises) as info:
            d2l.train_ch8(net, train_iter, vocab, 1, 5, "cpu", log_every=1)
        history = d2l.last_history()
        assert history.interrupted == title.startswith("interrupted")
        # The partial epoch 3 is in the weights only: not a point of the curve, not in the speed.
        assert len(history.perplexity) == len(history.tokens_per_sec) == 2
        assert list(widget_panels[0].plot.train_line.get_xdata()) == [1, 2]
        if raises is d2l.TrainingInterrupted:  # the message says it as the title does
            assert str(info.value).startswith("Interrupted in epoch 3 of 5; the model keeps its weights")
            assert "(2 finished epochs)" in str(info.value)
    else:
        history = d2l.train_ch8(net, train_iter, vocab, 1, 5, "cpu", log_every=1)
        assert not history.interrupted
    (panel,) = widget_panels
    assert panel.closed
    png = _check_finalised(panel, panel.handle)
    assert panel.plot.title.get_text().startswith(title), panel.plot.title.get_text()
    assert _pixels(png).std() > 0  # an image, not a blank
    out = capsys.readouterr().out.splitlines()
    if action is None:  # the book's lines are all printed, nothing cleared: 5 samples, summary, predictions
        assert sum(line.startswith("time traveller") for line in out) == 6
        assert out[-3].endswith("tokens/sec on cpu")


# --------------------------------------------------------------------------
# Text mode
# --------------------------------------------------------------------------


def test_text_mode_prints_one_concise_line_per_point():
    clock, lines = FakeClock(), []
    progress = db.TextProgress(10, clock=clock, out=lines.append)
    clock.now = 10.0
    progress.update(5, 3.2149, heldout=4.0, tokens_per_sec=1234.5, sample="ignored")
    clock.now = 20.0
    progress.update(10, 2.0)
    progress.close("done")
    assert lines == [
        "epoch 5/10 · 0:10 elapsed · ETA 0:10 · 1,234 tokens/s · perplexity 3.21 · held-out 4.00",
        "epoch 10/10 · 0:20 elapsed · ETA 0:00 · perplexity 2.00",
    ]


def test_train_ch8_outside_a_kernel_prints_text_lines(tiny_data, capsys, monkeypatch):
    monkeypatch.delenv("D2L_PLOT")
    train_iter, vocab = tiny_data
    torch.manual_seed(0)
    d2l.train_ch8(d2l.RNNModel(nn.GRU(len(vocab), 16), len(vocab)), train_iter, vocab, 1, 4, "cpu", log_every=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert [line.split(" · ")[0] for line in lines] == ["epoch 2/4", "epoch 4/4"]
    assert all("tokens/s · perplexity " in line for line in lines)


# --------------------------------------------------------------------------
# plot_histories
# --------------------------------------------------------------------------


def _history(start, epochs, heldout=()):
    ppl = [start / (1 + 0.2 * e) + 1 for e in range(epochs)]
    h = History(device="cpu", perplexity=ppl, tokens_per_sec=[1000.0] * epochs)
    h.heldout_epochs, h.heldout_perplexity = [e for e, _ in heldout], [p for _, p in heldout]
    return h


def test_plot_histories_draws_each_run_and_its_heldout_curve():
    from matplotlib.figure import Figure

    runs = {"GRU": _history(27, 30, heldout=[(10, 6.0), (20, 5.0), (30, 5.5)]), "RNN": _history(25, 20)}
    fig = d2l.plot_histories(runs, title="GRU against RNN")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["GRU", "GRU (held-out)", "RNN"]
    assert list(ax.lines[1].get_xdata()) == [10, 20, 30] and ax.lines[1].get_linestyle() == "--"
    assert ax.lines[0].get_color() == ax.lines[1].get_color() != ax.lines[2].get_color()
    assert ax.get_title() == "GRU against RNN" and ax.get_yscale() == "log"
    assert ax.get_ylim() == (2.0, 50.0)  # 1-2-5 limits around 4.97 ... 28.0
    png = fig._repr_png_()
    assert png.startswith(b"\x89PNG") and _pixels(png).std() > 0

    fig = d2l.plot_histories(runs, heldout=False)
    assert [line.get_label() for line in fig.axes[0].lines] == ["GRU", "RNN"] and fig.axes[0].get_title() == ""


@pytest.mark.parametrize("bad", [{}, [], _history(5, 3), {"a": [1.0, 2.0]}])
def test_plot_histories_rejects_what_is_not_a_dict_of_histories(bad):
    with pytest.raises(TypeError, match="History"):
        d2l.plot_histories(bad)


def test_no_pyplot_anywhere():
    """Neither the panel nor plot_histories touches pyplot (its figures would leak into notebooks)."""
    code = textwrap.dedent(
        """
        import sys
        from d2l_helpers import dashboard as db
        from d2l_helpers.train import History

        class Display:
            def __call__(self, bundle, raw, display_id, metadata=None):
                return self
            def update(self, bundle, raw, metadata=None):
                self.final = bundle

        panel = db.WidgetProgress(3, display=Display())
        panel.update(1, 5.0); panel.update(3, 3.0); panel.close("done")
        db.plot_histories({"a": History("cpu", perplexity=[5.0, 4.0])})._repr_png_()
        assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
        """
    )
    root = os.path.dirname(os.path.dirname(__file__))
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------
# A real notebook: nbclient, then strict nbval
# --------------------------------------------------------------------------

NOTEBOOK_CELLS = [
    """\
import torch
from torch import nn

import d2l_helpers as d2l

d2l.set_seed(0)
train_iter, vocab = d2l.load_data_time_machine(8, 10, max_tokens=1000, seed=0)""",
    """\
net = d2l.RNNModel(nn.GRU(len(vocab), 16), len(vocab))
history = d2l.train_ch8(net, train_iter, vocab, 1, 6, "cpu", log_every=3)""",
    'd2l.plot_histories({"GRU": history}, title="one run")',
    """\
import matplotlib.pyplot as plt  # the inline backend now formats figures too: still one PNG

d2l.plot_histories({"a": history, "b": history}, heldout=False)""",
]


def _outputs_of_type(cell, mime):
    return [o for o in cell.outputs if mime in o.get("data", {})]


def test_executed_notebook_keeps_one_png_per_plot_and_passes_strict_nbval(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.delenv("D2L_PLOT")  # as a learner runs it: auto, which picks the widget panel in a kernel
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in NOTEBOOK_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    assert WIDGET_VIEW not in json.dumps(nb)  # no widget view left behind...
    # ...nor the panel's images: nbclient keeps the last state of every widget (~13 KB here, the image emptied)
    assert len(json.dumps(nb.metadata.get("widgets", {}))) < 20_000
    train = nb.cells[1]
    (panel,) = _outputs_of_type(train, "image/png")
    assert panel.output_type == "display_data" and panel.data["text/plain"] == db.PLAIN_TEXT
    assert train.outputs[0] is panel  # shown above the lines the book prints...
    assert train.outputs[1].data == {}  # (the frame a mid-run save would have kept, emptied: nothing shows)
    note = train.outputs[2].text.splitlines()[0]  # ...the fast path's note first, said once, short and plain
    assert note == "Training with a faster equivalent of this nn.GRU (fast=False turns it off)"
    printed = "".join(o.text for o in train.outputs if o.output_type == "stream").splitlines()
    assert sum(line.startswith("time traveller") for line in printed) == 3  # epochs 3 and 6, then the final one
    assert printed[-3].endswith("tokens/sec on cpu")
    for cell in nb.cells[2:]:  # exactly one image each: no duplicate from the inline backend
        assert len(_outputs_of_type(cell, "image/png")) == 1
        assert [o.output_type for o in cell.outputs] == ["execute_result"]

    path = tmp_path / "dashboard.ipynb"
    nbformat.write(nb, path)
    sanitize = tmp_path / "sanitize.cfg"
    sanitize.write_text("[speed]\nregex: \\d[\\d,.]* tokens/s(ec)?\nreplace: N tokens/sec\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env"]
        + ["--nbval-sanitize-with", str(sanitize), "--nbval-cell-timeout", "300", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout


def test_png_holds_exactly_the_canvas_pixels():
    plot = db.PerplexityPlot(20, heldout=True)
    for epoch in range(1, 21):
        plot.add(epoch, 30.0 / epoch + 1, heldout=32.0 / epoch + 1 if epoch % 5 == 0 else None)
    png = plot.frame()
    image = Image.open(io.BytesIO(png))
    size = plot.figure.canvas.get_width_height(physical=True)
    assert image.format == "PNG" and image.mode == "RGB" and image.size == size
    # every chunk's CRC (Pillow does not check IDAT's), and nothing after IEND
    at, tags = 8, []
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        tag, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        assert struct.unpack(">I", png[at + 8 + length : at + 12 + length])[0] == zlib.crc32(tag + data), tag
        tags.append(tag)
        at += 12 + length
    assert tags == [b"IHDR", b"IDAT", b"IEND"] and at == len(png)
    expected = np.asarray(plot.figure.canvas.buffer_rgba())[:, :, :3]
    assert np.array_equal(np.asarray(image), expected)
    assert len(png) < 40_000  # compressed: the raw pixels are ~470 kB
