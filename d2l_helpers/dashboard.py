"""The live training dashboard of ``train_ch8``, and a plot for comparing runs.

``train_ch8`` talks to this module through three calls::

    progress = make_progress(plot, num_epochs=num_epochs, heldout=heldout_iter is not None)
    progress.update(epoch, perplexity, tokens_per_sec=..., logged=...)  # every epoch
    #   ...and at each logged point also heldout=..., sample=...
    progress.close(status)  # in a ``finally``: 'done', 'interrupted' or 'error'

``make_progress`` returns one of three displays, chosen by ``plot=``:

* ``'widget'``: one compact panel of core ipywidgets (so it works in Colab
  too): one progress line above the plot (epoch, perplexity, elapsed time,
  ETA, tokens/s), a perplexity-per-epoch plot, a progress bar, and the
  latest sample (with its epoch). It never clears the cell's output, so the
  lines the book prints stay. Beside the widgets, the same output carries the
  latest frame as a PNG captioned "saved while training ran: run the cell
  again", which is what a notebook saved mid-run keeps (see
  :mod:`d2l_helpers.panels` and :mod:`d2l_helpers.jupyter_hook`). ``close``
  replaces the panel *in place* by a static PNG of the final plot, whose title
  holds the final numbers, and closes the widgets: a saved notebook shows an
  image that GitHub renders and that reopens without "Error displaying widget".
* ``'text'``: one line per logged point (scripts, terminals, CI logs).
* ``'off'``: nothing.
* ``'auto'`` (the default) reads ``$D2L_PLOT`` (widget, text or off) and,
  when that is unset, picks ``'widget'`` inside a Jupyter kernel where
  ipywidgets imports, and ``'text'`` everywhere else.

Every panel (training, the sweep) is shown by :func:`show_panel` and ended by
:func:`finish_panel`, which work with ipywidgets 7 (Colab) and 8 alike.

The plot is drawn off-screen with matplotlib's Agg canvas, never pyplot, so no
figure leaks into the notebook. Drawing takes time away from training, so the
plot is redrawn at most about every two seconds (and never so often that
drawing would take more than ~1 % of the time); the first point, the last
epoch and the final figure are always drawn. The progress line (epoch,
perplexity, elapsed time, ETA, tokens/s) changes every epoch: one label, so
the panel never shows two different epochs in words; one widget message of a
few bytes, no drawing. It is a label, not text drawn into the image. A run
stopped by Kernel > Interrupt plots only the epochs it finished: the partial
epoch is in the weights, not in the curve or the speed.
The live y-axis fits the values seen so far, on a 1-2-5 grid. Between changes of the axis
limits a frame only redraws the lines onto a cached background (blitting):
a few milliseconds instead of a full draw.

``plot_histories({label: history, ...})`` draws finished runs on one figure,
for comparing them; the figure shows as one PNG when it ends a notebook cell.

matplotlib and ipywidgets are imported only when a plot is made.
"""

from __future__ import annotations

import html
import math
import os
import sys
import time
import warnings

from .figures import (  # noqa: F401 (re-exported: plotting.py and older code import them from here)
    PerplexityPlot,
    _fit_title,
    _new_figure,
    _nice_limits,
    _png,
    _stamped_png,
    _style_axes,
    plot_histories,
)
from .panels import PLAIN_TEXT, SAVED_CAPTION, WIDGET_VIEW, Panel, finish_panel, show_panel  # (re-exported)

__all__ = [
    "PLAIN_TEXT",
    "WIDGET_VIEW",
    "Panel",
    "PerplexityPlot",
    "RateLimiter",
    "TextProgress",
    "WidgetProgress",
    "fast_path_note",
    "finish_panel",
    "make_progress",
    "plot_histories",
    "show_panel",
]

ENV_PLOT = "D2L_PLOT"
MODES = ("auto", "widget", "text", "off")
MIN_INTERVAL = 2.0  # seconds between two refreshes of the panel, at least...
MAX_SHARE = 0.01  # ...and long enough that drawing takes at most this share of the time


# --------------------------------------------------------------------------
# Choosing the display
# --------------------------------------------------------------------------


def _in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab)."""
    ipython = sys.modules.get("IPython")  # never import IPython just to ask
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def _have_ipywidgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_mode(mode: str = "auto") -> str:
    """The display ``mode`` stands for: ``'widget'``, ``'text'`` or ``'off'``."""
    if not isinstance(mode, str) or mode.strip().lower() not in MODES:
        raise ValueError(f"plot must be one of 'auto', 'widget', 'text', 'off'; got {mode!r}")
    mode = mode.strip().lower()
    if mode == "auto":
        raw = os.environ.get(ENV_PLOT, "")
        mode = raw.strip().lower() or "auto"
        if mode not in MODES:
            raise ValueError(
                f"${ENV_PLOT} must be one of widget, text, off (or auto); got {raw!r}. "
                "Unset it to choose automatically."
            )
    if mode == "auto":
        mode = "widget" if _in_kernel() and _have_ipywidgets() else "text"
    return mode


def make_progress(mode, num_epochs, heldout=False):
    """The progress display for ``train_ch8``: an object with ``update`` and ``close``."""
    mode = resolve_mode(mode)
    if mode == "widget" and not (_in_kernel() and _have_ipywidgets()):
        warnings.warn(
            "the widget dashboard needs a Jupyter kernel with ipywidgets; printing text lines instead",
            RuntimeWarning,
            stacklevel=2,
        )
        mode = "text"
    if mode == "off":
        return _Off()
    if mode == "text":
        return TextProgress(num_epochs)
    return WidgetProgress(num_epochs, heldout=heldout)


# --------------------------------------------------------------------------
# Words and numbers
# --------------------------------------------------------------------------


def _fmt_time(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _perplexities(perplexity, heldout=None) -> str:
    text = f"perplexity {perplexity:.2f}"
    return text if heldout is None else f"{text} · held-out {heldout:.2f}"


def _timing(epoch, num_epochs, elapsed, tokens_per_sec=None) -> str:
    """'12/50 · 0:14 elapsed · ETA 0:44 · 41,234 tokens/s'."""
    eta = _fmt_time(elapsed / epoch * (num_epochs - epoch)) if epoch > 0 else "–"
    parts = [f"{epoch}/{num_epochs}", f"{_fmt_time(elapsed)} elapsed", f"ETA {eta}"]
    if tokens_per_sec is not None:
        parts.append(f"{tokens_per_sec:,.0f} tokens/s")
    return " · ".join(parts)


def _stopped_in(status, epoch, num_epochs) -> str:
    """'interrupted in epoch 38 of 60': the one wording for where a run stopped (title and message alike)."""
    how = "interrupted" if status == "interrupted" else "stopped by an error"
    return f"{how} in epoch {epoch} of {num_epochs}"


def _summary(status, num_epochs, point, elapsed) -> str:
    """The final figure's title: how training ended and the numbers of its last finished epoch.

    A stopped run plots only its finished epochs, so it stopped in the one
    after the last point.
    """
    if point is None:
        if status == "done":
            return f"{num_epochs} epochs in {_fmt_time(elapsed)}"
        return f"{_stopped_in(status, 1, num_epochs)}, before any epoch finished"
    epoch, perplexity, heldout, tokens_per_sec = point
    speed = [] if tokens_per_sec is None else [f"{tokens_per_sec:,.0f} tokens/s"]
    if status == "done":
        return " · ".join([f"{epoch} epochs in {_fmt_time(elapsed)}", _perplexities(perplexity, heldout), *speed])
    head = _stopped_in(status, epoch + 1, num_epochs)
    return " · ".join([head, f"epoch {epoch}: {_perplexities(perplexity, heldout)}", *speed])


def fast_path_note(name: str) -> str:
    """The one line said when the fast path trains: short, plain, under the panel for both editions.

    ``name`` is the fast path's name ('scratch GRU kernel', 'nn.GRU kernel').
    ``fast=False`` is an argument of ``train_ch8`` and of ``d2l.Trainer``.
    """
    return f"Training with a faster equivalent of this {name.removesuffix(' kernel')} (fast=False turns it off)"


# --------------------------------------------------------------------------
# When to redraw
# --------------------------------------------------------------------------


class RateLimiter:
    """Says when the next refresh may happen.

    The first one at once; then no sooner than ``min_interval`` seconds after
    the previous one started, nor sooner than its cost divided by
    ``max_share`` (a 50 ms refresh with max_share=0.01 waits 5 s), so that
    refreshing takes at most about that share of the time on a slow machine too.
    The cost is CPU time, so that a busy machine pausing the process in the
    middle of a refresh does not hold the next one back for long.
    """

    def __init__(self, min_interval=MIN_INTERVAL, max_share=MAX_SHARE, clock=time.perf_counter):
        self.min_interval, self.max_share, self.clock = min_interval, max_share, clock
        self.next_time = -math.inf

    def ready(self) -> bool:
        return self.clock() >= self.next_time

    def record(self, started, cost):
        """A refresh started at ``started`` (a clock reading) and took ``cost`` seconds of CPU time."""
        self.next_time = started + max(self.min_interval, max(cost, 0.0) / self.max_share)


# --------------------------------------------------------------------------
# The three displays
# --------------------------------------------------------------------------


class _Off:
    def update(self, epoch, perplexity, heldout=None, tokens_per_sec=None, sample=None, logged=True):
        pass

    def close(self, status):
        pass


class TextProgress:
    """One line per logged point: epoch, perplexities, speed, elapsed time and ETA."""

    def __init__(self, num_epochs, clock=time.perf_counter, out=print):
        self.num_epochs, self.clock, self.out = num_epochs, clock, out
        self.t0 = clock()

    def update(self, epoch, perplexity, heldout=None, tokens_per_sec=None, sample=None, logged=True):
        if not logged:  # a line per logged point only: a log is read later, not watched
            return
        timing = _timing(epoch, self.num_epochs, self.clock() - self.t0, tokens_per_sec)
        self.out(f"epoch {timing} · {_perplexities(perplexity, heldout)}")

    def close(self, status):
        pass


class WidgetProgress:
    """The live panel: caption, plot, progress bar and line, latest sample; a static PNG once closed.

    ``display`` (IPython's by default), ``clock`` and ``cpu_clock`` (what a
    refresh costs) can be replaced, which is how the tests run it without a
    frontend.
    """

    def __init__(self, num_epochs, heldout=False, *, clock=time.perf_counter, cpu_clock=time.thread_time, display=None):
        import ipywidgets as widgets

        self.num_epochs, self.clock, self.cpu_clock = num_epochs, clock, cpu_clock
        self.limiter = RateLimiter(clock=clock)
        self.plot = PerplexityPlot(num_epochs, heldout=heldout)
        self.point = None  # the latest (epoch, perplexity, heldout, tokens_per_sec)
        self.heldout = None  # (epoch, perplexity) of the latest held-out measurement (logged epochs only)
        self.sample = None
        self.frames = 0  # plot images sent, for the tests
        self.progress_updates = 0  # progress lines sent, for the tests
        self.closed = False

        width = self.plot.figure.canvas.get_width_height()[0]
        # At its own size: a VBox would stretch it to the page's width, blurred.
        self.image = widgets.Image(value=self.plot.frame(), format="png", layout={"width": f"{width}px"})
        self.bar = widgets.IntProgress(value=0, min=0, max=num_epochs, description="epoch", bar_style="info")
        # The progress line is a widget, not text drawn in the image: drawing the title
        # took as long as the rest of a frame. The final PNG has its title drawn.
        self.timing = widgets.Label(f"epoch {_timing(0, num_epochs, 0.0)}")
        self.caption = self.timing  # (one label: the epoch in words is said once)
        self.text = widgets.HTML(_sample_html("…"))
        self.box = widgets.VBox([self.timing, self.image, self.bar, self.text])
        self.widgets = [self.box, self.timing, self.image, self.bar, self.text]
        self.panel = show_panel(self.box, self.plot.saved(SAVED_CAPTION), display=display, clock=clock)
        self.t0 = clock()

    @property
    def handle(self):  # (the tests' fake display is the handle)
        return self.panel.handle

    def update(self, epoch, perplexity, heldout=None, tokens_per_sec=None, sample=None, logged=True):
        """Every finished epoch: the progress line; the plot when the rate limit allows."""
        self.plot.add(epoch, perplexity, heldout)
        self.point = (epoch, perplexity, heldout, tokens_per_sec)
        if heldout is not None:
            self.heldout = (epoch, heldout)
        # One line, every epoch (the bar, a second widget message, moves with the plot):
        # 'epoch 34/60 · 0:14 elapsed · ETA 0:11 · 41,234 tokens/s · perplexity 14.57 · held-out 15.20 (epoch 30)'
        held = ""
        if self.heldout is not None:
            measured, value = self.heldout
            held = f" · held-out {value:.2f}" + ("" if measured == epoch else f" (epoch {measured})")
        timing = _timing(epoch, self.num_epochs, self.clock() - self.t0, tokens_per_sec)
        self.timing.value = f"epoch {timing} · {_perplexities(perplexity)}{held}"
        self.progress_updates += 1
        if sample is not None:
            self.sample = sample
            self.text.value = _sample_html(sample, epoch)
        if epoch >= self.num_epochs or self.limiter.ready():
            started, cpu = self.clock(), self.cpu_clock()
            self._refresh()
            self.limiter.record(started, self.cpu_clock() - cpu)

    def _refresh(self):
        epoch = self.point[0]
        self.image.value = self.plot.frame()
        self.panel.keep(lambda: self.plot.saved(SAVED_CAPTION))  # what a save keeps (every 10 s at most)
        self.bar.value = epoch
        self.frames += 1

    def close(self, status):
        """Replace the panel by the final figure as a PNG, then close the widgets."""
        if self.closed:
            return
        self.closed = True
        title = _summary(status, self.num_epochs, self.point, self.clock() - self.t0)
        self.panel.finish(self.plot.final(title), self.widgets, images=[self.image])


def _sample_html(sample, epoch=None):
    label = "sample" if epoch is None else f"sample, epoch {epoch}"
    return (
        '<div style="font-family: monospace; white-space: pre-wrap; line-height: 1.3">'
        f"<b>{label}</b> {html.escape(sample)}</div>"
    )
