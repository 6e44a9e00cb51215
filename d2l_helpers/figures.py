"""The figures of the training dashboard, drawn off-screen with matplotlib's Agg canvas (no pyplot).

``PerplexityPlot`` is the live plot of ``train_ch8``'s panel (lines created
once, their data replaced; blitting between changes of the axis limits),
``plot_histories`` compares finished runs; ``_png`` encodes a canvas as a PNG
quickly, ``_stamped_png`` adds the caption of a frame kept for a save, and
``_fit_title`` keeps a final title inside its image. The board (board.py) and
the sweep's panel (sweep_panel.py) draw with the same pieces.
"""

from __future__ import annotations

import functools
import math
import struct
import zlib

__all__ = ["PerplexityPlot", "plot_histories"]


@functools.cache
def _figure_class():
    """``matplotlib.figure.Figure`` that shows as a PNG in a notebook, without pyplot."""
    from matplotlib.figure import Figure

    class PerplexityFigure(Figure):
        def _repr_png_(self):
            return _png(self.canvas, redraw=True)

    return PerplexityFigure


def _new_figure(figsize, dpi=100):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = _figure_class()(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(figure)  # attaches itself as figure.canvas
    return figure


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _png(canvas, redraw=False) -> bytes:
    """The canvas as PNG bytes: 8-bit RGB, rows unfiltered, zlib level 3.

    Written here rather than by Pillow: Pillow tries every PNG row filter on
    every row, which took two thirds of a live frame's time; a plot is mostly
    flat colour, which deflate compresses as well without filtering (the
    files come out no larger).
    """
    import numpy as np

    if redraw:
        canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    height, width = rgba.shape[:2]
    rows = np.zeros((height, 1 + 3 * width), np.uint8)  # each row: filter type 0 (none), then R G B ...
    rows[:, 1:] = rgba[:, :, :3].reshape(height, 3 * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, truecolour, no interlace
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 3)),
            _png_chunk(b"IEND", b""),
        ]
    )


def _stamped_png(ax, title, text) -> bytes:
    """The canvas as it is (the latest frame), with ``text`` drawn in the ``title`` slot, as PNG bytes.

    This is the frame a notebook saved mid-run keeps: the caption says what it
    is. Drawing text costs about three live frames, so the caption is drawn
    once, in dark red over the empty title slot, and its pixels are kept; later
    frames get those pixels pasted in (while the axes stay where they were).
    ``title`` is left as it was (its text and colour): the next frame is unchanged.
    """
    import numpy as np

    canvas = ax.figure.canvas
    rgba = np.asarray(canvas.buffer_rgba())  # (height, width, 4), the frame just drawn
    key = (text, tuple(ax.get_position().bounds), rgba.shape, title.get_fontsize(), title.get_position())
    if key in _STAMPS:  # (the same caption at the same place: every panel of this kernel after the first)
        rows, cols, patch = _STAMPS[key]
        rgba[rows, cols] = patch
        return _png(canvas)
    old_text, old_color = title.get_text(), title.get_color()
    title.set_text(text)
    title.set_color("#a00000")
    try:
        ax.draw_artist(title)
        box = title.get_window_extent(canvas.get_renderer())  # (pixels, origin at the bottom left)
    finally:
        title.set_text(old_text)
        title.set_color(old_color)
    height, width = rgba.shape[:2]
    rows = slice(max(int(height - box.y1) - 1, 0), min(int(height - box.y0) + 2, height))
    cols = slice(max(int(box.x0) - 1, 0), min(int(box.x1) + 2, width))
    _STAMPS[key] = (rows, cols, rgba[rows, cols].copy())
    return _png(canvas)


_STAMPS: dict = {}  # the pixels of each caption drawn so far, by caption and place


def _fit_title(figure, title):
    """Make a drawn figure's ``title`` fit the image: two lines (split at a " · ") if too wide, room above if too tall.

    For a final figure (the live ones keep their layout): call it after a
    draw, then draw again.
    """
    renderer = figure.canvas.get_renderer()
    width, height = figure.bbox.width - 4, figure.bbox.height - 2
    parts = title.get_text().split(" · ")
    for k in range(len(parts) - 1, 0, -1):
        if title.get_window_extent(renderer).x1 <= width:
            break
        title.set_text(" · ".join(parts[:k]) + "\n" + " · ".join(parts[k:]))
    top = title.get_window_extent(renderer).y1
    if top > height:
        figure.subplots_adjust(top=figure.subplotpars.top - (top - height) / figure.bbox.height)


def _nice(value, up):
    """The nearest of ..., 1, 2, 5, 10, 20, 50, ... above (``up``) or below ``value`` > 0."""
    exponent = math.floor(math.log10(value))
    steps = [m * 10.0**exponent for m in (1, 2, 5, 10)]
    return min(s for s in steps if s >= value * (1 - 1e-9)) if up else max(s for s in steps if s <= value * (1 + 1e-9))


def _nice_limits(values):
    """Log-axis limits on the 1-2-5 grid around ``values``; never below 1 if no value is (perplexity)."""
    values = [v for v in values if math.isfinite(v) and v > 0]
    if not values:
        return (1.0, 50.0)
    low, high = min(values), max(values)
    bottom = _nice(low / 1.05, up=False)
    if low >= 1:
        bottom = max(bottom, 1.0)  # perplexity is never below 1
    return bottom, _nice(high * 1.05, up=True)


def _style_axes(ax):
    """Perplexity on a log axis with plain tick labels (1, 2, 5, 10, 20): readable from ~28 down to ~1."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch", fontsize=9)
    ax.set_ylabel("perplexity", fontsize=9)
    ax.yaxis.set_minor_locator(NullLocator())  # no unlabelled ticks: a third of the cost of a full draw
    ax.tick_params(labelsize=8)
    ax.grid(True, which="major", alpha=0.3)


class PerplexityPlot:
    """Training (and held-out) perplexity against epoch, drawn off-screen.

    ``add`` appends a point, ``frame()`` renders the live figure to PNG bytes
    and ``final(title)`` the finished one. The lines are created once and
    their data replaced; while the axis limits stay the same a frame restores
    the cached background (axes, ticks, labels) and draws only the lines.
    """

    def __init__(self, num_epochs, heldout=False, figsize=(5.6, 2.8), dpi=100):
        self.figure = _new_figure(figsize, dpi)
        self.figure.subplots_adjust(left=0.1, right=0.98, top=0.9, bottom=0.16)
        self.ax = self.figure.add_subplot()
        _style_axes(self.ax)
        self.ax.set_xlim(0, max(num_epochs, 1))
        self.epochs, self.perplexity, self.heldout_epochs, self.heldout = [], [], [], []
        (self.train_line,) = self.ax.plot([], [], ".-", color="C0", markersize=4, label="training")
        self.lines = [self.train_line]
        if heldout:
            (self.heldout_line,) = self.ax.plot([], [], ".--", color="C1", markersize=4, label="held-out")
            self.lines.append(self.heldout_line)
        self.ax.legend(loc="upper right", fontsize=8)
        self.title = self.ax.set_title("", fontsize=9, loc="left")
        # Animated artists are left out of canvas.draw(): the background holds
        # everything else (the legend too: drawing it each frame would cost as
        # much as the rest of the frame), and frame() draws these on top.
        self.animated = [*self.lines, self.title]
        for artist in self.animated:
            artist.set_animated(True)
        self.limits = None
        self.background = None
        self.full_draws = 0

    def add(self, epoch, perplexity, heldout=None):
        self.epochs.append(epoch)
        self.perplexity.append(perplexity)
        self.train_line.set_data(self.epochs, self.perplexity)
        if heldout is not None and len(self.lines) > 1:
            self.heldout_epochs.append(epoch)
            self.heldout.append(heldout)
            self.heldout_line.set_data(self.heldout_epochs, self.heldout)

    def frame(self, title="") -> bytes:
        """The live figure as PNG bytes."""
        self.title.set_text(title)
        limits = _nice_limits(self.perplexity + self.heldout)  # fits what has been seen so far
        if limits != self.limits or self.background is None:
            self.limits = limits
            self.ax.set_ylim(*limits)
            self.figure.canvas.draw()  # a full draw, without the animated artists
            self.full_draws += 1
            self.background = self.figure.canvas.copy_from_bbox(self.figure.bbox)
        else:
            self.figure.canvas.restore_region(self.background)
        for artist in self.animated:
            self.ax.draw_artist(artist)
        return _png(self.figure.canvas)

    def saved(self, caption) -> bytes:
        """The latest frame with ``caption`` in the title slot: what a notebook saved mid-run shows."""
        return _stamped_png(self.ax, self.title, caption)

    def final(self, title="") -> bytes:
        """The finished figure, with ``title``, as PNG bytes (a full draw; no frame() after it)."""
        for artist in self.animated:
            artist.set_animated(False)  # drawn in order, under the legend
        self.title.set_text(title)
        self.ax.set_ylim(*_nice_limits(self.perplexity + self.heldout))
        self.background = None
        self.figure.canvas.draw()
        _fit_title(self.figure, self.title)  # a long title (held-out and speed) in two lines
        return _png(self.figure.canvas, redraw=True)


def plot_histories(histories, title=None, heldout=True):
    """Perplexity per epoch of several runs on one figure, for comparing them.

    ``histories`` maps a label to the :class:`~d2l_helpers.train.History` that
    ``train_ch8`` returned. Held-out perplexity, where a run logged it, is
    drawn dashed in the same colour (``heldout=False`` leaves it out). Returns
    a ``matplotlib.figure.Figure`` drawn off-screen (no pyplot): as the last
    expression of a notebook cell it shows as one PNG; ``fig.savefig(path)``
    writes it to a file.
    """
    if not isinstance(histories, dict) or not histories:
        raise TypeError(f"histories must be a non-empty dict {{label: History}}, got {type(histories).__name__}")
    figure = _new_figure((6.4, 3.4))
    ax = figure.add_subplot()
    _style_axes(ax)
    values = []
    for i, (label, history) in enumerate(histories.items()):
        if not hasattr(history, "perplexity") or not hasattr(history, "heldout_perplexity"):
            raise TypeError(f"histories[{label!r}] must be a History (what train_ch8 returns)")
        color = f"C{i % 10}"
        ax.plot(history.epochs, history.perplexity, "-", color=color, label=str(label))
        values += history.perplexity
        if heldout and history.heldout_perplexity:
            ax.plot(history.heldout_epochs, history.heldout_perplexity, ".--", color=color, label=f"{label} (held-out)")
            values += history.heldout_perplexity
    ax.set_ylim(*_nice_limits(values))
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    figure.tight_layout()
    return figure
