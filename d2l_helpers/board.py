"""d2l 1.0's ``ProgressBoard``, drawn by this package's dashboard instead of pyplot.

``Module.plot(key, value, train)`` calls ``board.draw(x, y, label, every_n)``
as in the English edition (d2l.ai §3.2): every ``every_n`` raw points of a
series (``'train_ppl'``, ``'val_ppl'``, ``'train_loss'``, ...) are averaged
into one plotted point, at fractional epochs for training. The board keeps
those points in ``board.data`` exactly as upstream does; what differs is the
drawing. Upstream draws a new line object for every series at every point
with pyplot, then ``display(fig)`` and ``clear_output`` (which also wipes
anything the cell printed), so its cost grows with the square of the number
of points. Here, during ``Trainer.fit``, the points go to one live panel (the
dashboard's pieces: ``dashboard.show_panel``, its rate limit, its timing
line), whose lines are created once and whose data is replaced; the panel
ends as one static PNG, and nothing is cleared. The series keep upstream's
names; the plot reads like ``train_ch8``'s (markers, a labelled log axis for
perplexity, the speed in the progress line).

Outside ``Trainer.fit`` (a board used on its own) points are recorded but
not drawn: ``board.figure()`` draws them on demand.
"""

from __future__ import annotations

import collections
import html
import math
import time

from . import dashboard as _db
from . import figures as _fig

__all__ = ["BoardPlot", "FitProgress", "ProgressBoard"]

Point = collections.namedtuple("Point", ["x", "y"])


class ProgressBoard:
    """The board that ``Module.plot`` draws on (the English edition's arguments, all accepted)."""

    def __init__(
        self,
        xlabel=None,
        ylabel=None,
        xlim=None,
        ylim=None,
        xscale="linear",
        yscale="linear",
        ls=("-", "--", "-.", ":"),
        colors=("C0", "C1", "C2", "C3"),
        fig=None,
        axes=None,
        figsize=(3.5, 2.5),
        display=True,
    ):
        self.xlabel, self.ylabel, self.xlim, self.ylim = xlabel, ylabel, xlim, ylim
        self.xscale, self.yscale, self.ls, self.colors = xscale, yscale, list(ls), list(colors)
        self.fig, self.axes, self.figsize, self.display = fig, axes, figsize, display
        names = ("xlabel", "ylabel", "xlim", "ylim", "xscale", "yscale", "ls", "colors", "fig", "axes", "figsize")
        self.hparams = {k: getattr(self, k) for k in (*names, "display")}
        self.raw_points: collections.OrderedDict = collections.OrderedDict()
        self.data: collections.OrderedDict = collections.OrderedDict()
        self.live = None  # the FitProgress that Trainer.fit attaches while it runs

    def draw(self, x, y, label, every_n=1):
        """Add a raw point to series ``label``; every ``every_n`` of them make one plotted point (their mean)."""
        every_n = max(int(every_n), 1)  # upstream never plots a series whose every_n rounds to 0
        if label not in self.raw_points:
            self.raw_points[label], self.data[label] = [], []
        points = self.raw_points[label]
        points.append(Point(float(x), float(y)))
        if len(points) < every_n:
            return
        mean = Point(sum(p.x for p in points) / len(points), sum(p.y for p in points) / len(points))
        points.clear()
        self.data[label].append(mean)
        if self.live is not None and self.display:
            self.live.point(label, mean)

    def figure(self, title=""):
        """The points so far on a matplotlib figure (no pyplot); shows as a PNG at the end of a cell."""
        plot = BoardPlot(self)
        plot.update()
        plot.finish(title)
        return plot.figure


def _kind(labels) -> str | None:
    """What every series plots: 'perplexity' (train_ppl, val_ppl), 'loss' (train_loss, val_loss), else None."""
    labels = list(labels)
    if labels and all(label.endswith(("ppl", "perplexity")) for label in labels):
        return "perplexity"
    if labels and all(label.endswith("loss") for label in labels):
        return "loss"
    return None


class BoardPlot:
    """The board's series on one off-screen figure: one line per series, created once, data replaced.

    Upstream's names and arguments, the training panel's readability: markers
    on every point (a single validation point shows), and, when every series
    is a perplexity and the board was left at upstream's linear default, a log
    axis on the 1-2-5 grid labelled "perplexity". A loss (``LinearRegression``
    plots one) keeps the linear axis, labelled "loss".
    """

    def __init__(self, board, figsize=(5.6, 2.8), dpi=100):
        self.board = board
        self.figure = _fig._new_figure(figsize, dpi)
        self.figure.subplots_adjust(left=0.12, right=0.98, top=0.9, bottom=0.17)
        self.ax = self.figure.add_subplot()
        self.ax.tick_params(labelsize=8)
        self.ax.grid(True, alpha=0.3)
        self.lines = {}
        self.title = self.ax.set_title("", fontsize=9, loc="left")
        self.log = None  # whether the y axis is the perplexity log axis (decided with the first series)

    def update(self):
        """Bring every line up to date with ``board.data`` and fit the axes to it."""
        board, ax = self.board, self.ax
        for i, (label, points) in enumerate(board.data.items()):
            if label not in self.lines:
                ls, color = board.ls[i % len(board.ls)], board.colors[i % len(board.colors)]
                (self.lines[label],) = ax.plot([], [], linestyle=ls, color=color, label=label, marker="o", markersize=3)
                ax.legend(fontsize=8, loc="upper right")
            self.lines[label].set_data([p.x for p in points], [p.y for p in points])
        kind = _kind(board.data)
        log = kind == "perplexity" and board.yscale == "linear" and not board.ylim
        if log != self.log:
            self.log = log
            if log:
                _fig._style_axes(ax)  # perplexity: log axis, plain 1-2-5 labels
            else:
                ax.set_yscale(board.yscale)
        ax.set_xscale(board.xscale)
        ax.set_xlabel(board.xlabel or "", fontsize=9)
        ax.set_ylabel(board.ylabel or kind or "", fontsize=9)
        ys = [p.y for points in board.data.values() for p in points if math.isfinite(p.y)]
        if board.xlim:
            ax.set_xlim(*board.xlim)
        if board.ylim:
            ax.set_ylim(*board.ylim)
        elif ys and log:
            ax.set_ylim(*_fig._nice_limits(ys))
        elif ys:
            low, high = min(ys), max(ys)
            pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
            if board.yscale == "log" and low > 0:
                ax.set_ylim(low / 1.1, high * 1.1)
            else:
                ax.set_ylim(low - pad, high + pad)

    def frame(self, title="") -> bytes:
        self.update()
        self.title.set_text(title)
        return _fig._png(self.figure.canvas, redraw=True)

    def saved(self, caption) -> bytes:
        """The latest frame with ``caption`` in the title slot: what a notebook saved mid-run shows."""
        return _fig._stamped_png(self.ax, self.title, caption)

    def finish(self, title="") -> bytes:
        self.frame(title)
        _fig._fit_title(self.figure, self.title)  # a long title in two lines
        return _fig._png(self.figure.canvas, redraw=True)


def _values(board) -> str:
    """'train_ppl 9.81 · val_ppl 9.92': the latest point of every series."""
    return " · ".join(f"{label} {points[-1].y:.2f}" for label, points in board.data.items() if points)


class FitProgress:
    """What ``Trainer.fit`` shows: the board live, a progress line with ETA and speed, the latest sample.

    ``mode`` is the dashboard's (``'auto'``, ``'widget'``, ``'text'``, ``'off'``;
    ``$D2L_PLOT``). Widget mode: one panel shown with ``dashboard.show_panel``,
    refreshed at most as often as the dashboard's rate limit allows, and
    replaced in place by a static PNG at the end (``Panel.finish``). The
    progress line (epoch, elapsed, ETA, speed, the latest value of every
    series) changes every epoch. Text mode: one
    line per epoch. ``unit`` names what the speed counts ('tokens' or
    'examples'). ``clock``/``cpu_clock`` can be replaced (tests).
    """

    def __init__(
        self, board, max_epochs, mode="auto", *, unit="examples", clock=time.perf_counter, cpu_clock=time.thread_time
    ):
        mode = _db.resolve_mode(mode)
        if mode == "widget" and not (_db._in_kernel() and _db._have_ipywidgets()):
            mode = "text"
        self.board, self.max_epochs, self.mode, self.unit = board, max_epochs, mode, unit
        self.clock, self.cpu_clock = clock, cpu_clock
        self.limiter = _db.RateLimiter(clock=clock)
        self.t0 = clock()
        self.epochs_done = 0
        self.speed = None  # the latest finished epoch's tokens (examples) per second
        self.sample = None
        self.frames = 0  # images sent, for the tests
        self.closed = False
        if mode == "widget":
            self._open_panel()

    def _open_panel(self):
        import ipywidgets as widgets

        self.plot = BoardPlot(self.board)
        width = self.plot.figure.canvas.get_width_height()[0]
        self.image = widgets.Image(value=self.plot.frame(), format="png", layout={"width": f"{width}px"})
        self.bar = widgets.IntProgress(value=0, min=0, max=self.max_epochs, description="epoch", bar_style="info")
        self.timing = widgets.Label(f"epoch {_db._timing(0, self.max_epochs, 0.0)}")
        self.caption = self.timing  # (one label, as train_ch8's panel)
        self.text = widgets.HTML("")
        self.box = widgets.VBox([self.timing, self.image, self.bar, self.text])
        self.widgets = [self.box, self.timing, self.image, self.bar, self.text]
        self.panel = _db.show_panel(self.box, self.plot.saved(_db.SAVED_CAPTION), clock=self.clock)

    def _line(self, epoch, elapsed):
        """'12/50 · 0:14 elapsed · ETA 0:44 · 41,234 tokens/s'."""
        line = _db._timing(epoch, self.max_epochs, elapsed)
        return line if self.speed is None else f"{line} · {self.speed:,.0f} {self.unit}/s"

    def point(self, label, point):
        """A new plotted point (from ``board.draw``); drawn at the next refresh."""

    def wants_sample(self) -> bool:
        """Whether the next ``epoch_done`` will show a sample (so that it is worth computing)."""
        return self.mode == "widget" and (self.limiter.ready() or self.epochs_done + 1 >= self.max_epochs)

    def epoch_done(self, epoch, sample=None, speed=None):
        """Epoch ``epoch`` (1-based) is over; ``speed``: its tokens (examples) per second."""
        self.epochs_done = epoch
        self.speed = speed if speed is not None else self.speed
        elapsed = self.clock() - self.t0
        if self.mode == "text":
            print(f"epoch {self._line(epoch, elapsed)} · {_values(self.board)}")
            return
        if self.mode != "widget":
            return
        # one progress line, every epoch, as train_ch8's panel
        values = _values(self.board)
        self.timing.value = f"epoch {self._line(epoch, elapsed)}" + (f" · {values}" if values else "")
        if sample is not None:
            self.sample = sample
            self.text.value = (
                '<div style="font-family: monospace; white-space: pre-wrap">'
                f"<b>sample, epoch {epoch}</b> {html.escape(sample)}</div>"
            )
        if epoch >= self.max_epochs or self.limiter.ready():
            started, cpu = self.clock(), self.cpu_clock()
            self.image.value = self.plot.frame()
            self.panel.keep(lambda: self.plot.saved(_db.SAVED_CAPTION))  # what a save keeps (every 10 s at most)
            self.frames += 1
            self.bar.value = epoch
            self.limiter.record(started, self.cpu_clock() - cpu)

    def close(self, status, stopped_in=None):
        """'done', 'interrupted' or 'error' (in epoch ``stopped_in``): the panel becomes a PNG of the final board."""
        if self.closed or self.mode != "widget":
            self.closed = True
            return
        self.closed = True
        if status == "done":
            head = f"{self.epochs_done} epochs in {_db._fmt_time(self.clock() - self.t0)}"
        elif status == "interrupted" and stopped_in is None:  # between two epochs
            head = f"interrupted after epoch {self.epochs_done} of {self.max_epochs}"
        else:
            head = _db._stopped_in(status, stopped_in or self.epochs_done + 1, self.max_epochs)
        speed = None if self.speed is None else f"{self.speed:,.0f} {self.unit}/s"
        title = " · ".join(part for part in (head, _values(self.board), speed) if part)
        self.panel.finish(self.plot.finish(title), self.widgets, images=[self.image])
