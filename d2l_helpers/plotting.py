"""The book's plotting helpers: ``Animator``, ``plot``, ``set_figsize``, ``set_axes``, ``use_svg_display``.

The book's own code calls these through ``d2l`` (zh.d2l.ai §8.3 draws word
frequencies with ``d2l.plot``; §8.5 defines its own ``train_ch8`` around a
``d2l.Animator``), so a learner who changes only the import line needs them
here with upstream's signatures and behaviour (d2l 0.17.6).

``plot``, ``set_figsize``, ``set_axes`` and ``use_svg_display`` work as
upstream's: they draw with pyplot, so the figure shows when the notebook cell
ends.

``Animator`` keeps upstream's data (``animator.X``, ``animator.Y``), axes and
drawing, with one deliberate difference. Upstream redraws by displaying the
figure again and calling ``clear_output(wait=True)``, which also wipes
everything else the cell printed (the samples the book's training loop
prints). Ours never clears the cell's output. Following ``$D2L_PLOT`` like the
training dashboard (see :func:`~d2l_helpers.dashboard.resolve_mode`):

* ``'widget'`` (``'auto'`` in a Jupyter kernel): the figure is drawn off-screen
  on an Agg canvas (no pyplot figure, so nothing is shown twice when the cell
  ends), displayed once as a PNG, and that display is replaced in place at
  each ``add``. A saved notebook keeps the last image, with a constant
  text/plain so that nbval's strict comparison passes.
* ``'text'`` (``'auto'`` outside a kernel): one short line per ``add``, such as
  ``epoch 10: train 12.3``.
* ``'off'``: nothing is shown; the data are still kept.

matplotlib is imported only when something is drawn (``d2l.plt`` itself is
imported lazily by the package), so ``import d2l_helpers`` stays fast.
"""

from __future__ import annotations

import base64
import numbers
import sys
import warnings

from . import dashboard
from .dashboard import PLAIN_TEXT, _new_figure, _png, resolve_mode

__all__ = ["Animator", "plot", "set_axes", "set_figsize", "use_svg_display"]

FMTS = ("-", "m--", "g-.", "r:")  # upstream's line formats, in order


# --------------------------------------------------------------------------
# pyplot helpers (upstream's, drawn with pyplot)
# --------------------------------------------------------------------------


def use_svg_display():
    """Show pyplot figures as SVG in Jupyter (upstream's ``use_svg_display``).

    Outside IPython this does nothing: upstream would create an IPython shell
    in a plain script just to set a format that only the notebook uses.
    """
    ipython = sys.modules.get("IPython")  # never import IPython just to ask
    if ipython is None or ipython.get_ipython() is None:
        return
    from matplotlib_inline import backend_inline

    backend_inline.set_matplotlib_formats("svg")


def set_figsize(figsize=(3.5, 2.5)):
    """Set the size of the pyplot figures to come, in inches (and use SVG, as upstream)."""
    import matplotlib.pyplot as plt

    use_svg_display()
    plt.rcParams["figure.figsize"] = figsize


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend):
    """Label, scale and limit ``axes``, add the ``legend`` if any, and turn the grid on.

    As upstream, ``axes.grid()`` toggles the grid: on a freshly cleared axes it
    turns it on.
    """
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    axes.set_xlim(xlim)
    axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


def _has_one_axis(X):
    """Whether ``X`` is one series: a 1-D array or tensor, or a list of numbers (upstream's test)."""
    return (hasattr(X, "ndim") and X.ndim == 1) or (isinstance(X, list) and not hasattr(X[0], "__len__"))


def plot(
    X,
    Y=None,
    xlabel=None,
    ylabel=None,
    legend=None,
    xlim=None,
    ylim=None,
    xscale="linear",
    yscale="linear",
    fmts=FMTS,
    figsize=(3.5, 2.5),
    axes=None,
):
    """Plot one or several series on ``axes`` (the current pyplot axes by default).

    ``X`` and ``Y`` are each one series (a list of numbers, a 1-D array or
    tensor) or a list of series. With ``Y`` left out, ``X`` holds the y values
    and each is plotted against its index (``d2l.plot(freqs, xscale='log',
    yscale='log')``). One ``X`` for several ``Y`` is shared by all of them.
    The axes are cleared first, then labelled by :func:`set_axes`.
    """
    import matplotlib.pyplot as plt

    if legend is None:
        legend = []
    set_figsize(figsize)
    axes = axes if axes else plt.gca()

    if _has_one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X  # no x values: plot each series against its index
    elif _has_one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)  # one x for every y
    axes.cla()
    for x, y, fmt in zip(X, Y, fmts):
        if len(x):
            axes.plot(x, y, fmt)
        else:
            axes.plot(y, fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)


# --------------------------------------------------------------------------
# Animator
# --------------------------------------------------------------------------


def _is_scalar(value):
    """A single value: what upstream tells apart by its lack of ``__len__``.

    A 0-d tensor or array has ``__len__`` but is one value too (upstream
    would fail on it).
    """
    return not hasattr(value, "__len__") or getattr(value, "ndim", None) == 0


def _fmt(value):
    """A number for a text line: ``10``, ``0.5``, ``12.35``; anything else as ``str``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if isinstance(value, numbers.Integral) or (number.is_integer() and abs(number) < 1e6):
        return f"{number:.0f}"
    return f"{number:.4g}"


class Animator:
    """Plot lines that grow point by point, for training loops (upstream's ``Animator``).

    ``add(x, y)`` appends one point to each line: ``y`` is one value or a list
    with one value per line (``None`` skips that line), ``x`` one value for all
    of them or a list with one per line. The points are kept in ``self.X`` and
    ``self.Y`` (one list per line) whatever the display mode; ``self.fig`` and
    ``self.axes`` are a matplotlib figure drawn off-screen and its list of axes.

    How the plot shows follows ``$D2L_PLOT`` (see the module's docstring): an
    image updated in place in a notebook, a printed line per ``add``, or
    nothing. It never clears the cell's output.
    """

    def __init__(
        self,
        xlabel=None,
        ylabel=None,
        legend=None,
        xlim=None,
        ylim=None,
        xscale="linear",
        yscale="linear",
        fmts=FMTS,
        nrows=1,
        ncols=1,
        figsize=(3.5, 2.5),
    ):
        if legend is None:
            legend = []
        self.mode = resolve_mode("auto")
        if self.mode == "widget" and not dashboard._in_kernel():
            warnings.warn(
                "the live plot needs a Jupyter kernel; printing text lines instead", RuntimeWarning, stacklevel=2
            )
            self.mode = "text"
        # Off-screen, never pyplot: the inline backend would show a pyplot
        # figure once more when the cell ends, and keep it open.
        self.fig = _new_figure(figsize)
        # Keep the axis labels inside the image (the inline backend would crop
        # a pyplot figure with bbox_inches='tight' instead).
        self.fig.set_layout_engine("tight")
        self.axes = self.fig.subplots(nrows, ncols)
        if nrows * ncols == 1:
            self.axes = [self.axes]
        self.xlabel, self.ylabel, self.legend = xlabel, ylabel, legend
        self.config_axes = lambda: set_axes(self.axes[0], xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
        self.X, self.Y, self.fmts = None, None, fmts
        self.handle = None  # the notebook display, once the first point is shown

    def add(self, x, y):
        """Add a point to each line (see the class docstring) and show the plot again."""
        if _is_scalar(y):
            y = [y]
        n = len(y)
        if _is_scalar(x):
            x = [x] * n
        if not self.X:
            self.X = [[] for _ in range(n)]
        if not self.Y:
            self.Y = [[] for _ in range(n)]
        added = []  # (line, x, y) of the points this call added, for the text line
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(a)
                self.Y[i].append(b)
                added.append((i, a, b))
        # Redraw the lines from scratch, as upstream does (drawing is cheap
        # next to an epoch of training).
        self.axes[0].cla()
        for xs, ys, fmt in zip(self.X, self.Y, self.fmts):
            self.axes[0].plot(xs, ys, fmt)
        self.config_axes()
        if self.mode == "widget":
            self._show()
        elif self.mode == "text" and added:
            print(self._line(added))

    def _label(self, i):
        if i < len(self.legend):
            return str(self.legend[i])
        if len(self.Y) == 1 and self.ylabel:
            return str(self.ylabel)
        return f"line {i + 1}"

    def _line(self, added):
        """'epoch 10: train 12.3' (or 'epoch 1.5: train loss 0.52, test acc 0.81')."""
        values = ", ".join(f"{self._label(i)} {_fmt(b)}" for i, _, b in added)
        return f"{self.xlabel or 'x'} {_fmt(added[0][1])}: {values}"

    def _show(self):
        """Draw the figure to a PNG and show it: displayed the first time, then replaced in place."""
        from IPython.display import display

        png = _png(self.fig.canvas, redraw=True)
        bundle = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": PLAIN_TEXT}
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)
