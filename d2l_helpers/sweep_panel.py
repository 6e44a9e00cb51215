"""The sweep's live panel, and ``plot_sweep`` for its results.

The panel follows the training dashboard (:mod:`d2l_helpers.dashboard`):

* ``'widget'`` (in a kernel): one box of core ipywidgets: a plot of the
  ranking metric of every finished configuration (the best one ringed), in
  grid order but labelled by its parameters (a band per value of the slowest
  one, a colour per value of the next, the rest under each point), a
  progress bar with "done/total · elapsed · ETA", the best result so far, and,
  under ``D2L_MAX_EPOCHS``, that every training run is capped. Nothing is
  cleared; redraws are rate-limited; a notebook saved mid-sweep keeps the
  latest frame (see :mod:`d2l_helpers.panels`); ``close`` replaces the box in
  place by a static PNG (same constant text/plain; its title says how the
  sweep ended and the best result) and closes the widgets.
* ``'text'`` (scripts, CI logs): one line per finished configuration.
* ``'off'``: nothing.

``plot_sweep(results, x=, y=, hue=)`` draws ``y`` against ``x``, one line per
value of ``hue``, as a matplotlib Figure drawn off-screen (no pyplot).
"""

from __future__ import annotations

import functools
import math
import os
import textwrap
import time
import warnings

from .dashboard import RateLimiter, _fmt_time, _have_ipywidgets, _in_kernel, resolve_mode, show_panel
from .figures import _new_figure, _png, _stamped_png

ENV_MAX_EPOCHS = "D2L_MAX_EPOCHS"  # (train.ENV_MAX_EPOCHS: not imported, which would import torch here)

__all__ = ["SweepPanel", "TextSweepProgress", "make_sweep_panel", "plot_sweep"]


def make_sweep_panel(mode, results, to_run):
    """The display of a sweep: an object with ``update(record)`` and ``close(status)``."""
    mode = resolve_mode(mode)
    if mode == "widget" and not (_in_kernel() and _have_ipywidgets()):
        warnings.warn("the sweep panel needs a Jupyter kernel with ipywidgets; printing text lines", stacklevel=3)
        mode = "text"
    if mode == "off":
        return _Off()
    if mode == "text":
        return TextSweepProgress(results, to_run)
    return SweepPanel(results, to_run)


def _params(params):
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def _value(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


def _best_name(metric) -> str:
    """'best perplexity', but 'best held-out' as it is: a metric's name already saying best or min is said once."""
    first = str(metric).split(" ")[0].lower()
    return str(metric) if first in ("best", "min", "max", "lowest", "highest", "top") else f"best {metric}"


def _cap_text():
    """'epochs capped by D2L_MAX_EPOCHS=5' when that variable is set (train_ch8 and Trainer.fit obey it), else None."""
    raw = os.environ.get(ENV_MAX_EPOCHS, "").strip()
    return f"epochs capped by {ENV_MAX_EPOCHS}={raw}" if raw else None


class _Progress:
    """Counting and words shared by the text and widget displays."""

    def __init__(self, results, to_run, clock=time.perf_counter):
        self.results, self.to_run, self.clock = results, to_run, clock
        self.total, self.ran = len(results), 0
        self.t0 = clock()

    def count(self, record):
        self.ran += not record.cached

    def timing(self, final=False):
        """'12/27 done · 0:41 elapsed · ETA 1:10' (the ETA from this call's configurations); none once it ended."""
        done, elapsed = len(self.results.done), self.clock() - self.t0
        if final and done == self.total:
            return f"{done}/{self.total} done in {_fmt_time(elapsed)}"
        if final:
            return f"{done}/{self.total} done · {_fmt_time(elapsed)} elapsed"
        left = self.to_run - self.ran
        eta = _fmt_time(elapsed / self.ran * left) if self.ran else "–"
        return f"{done}/{self.total} done · {_fmt_time(elapsed)} elapsed · ETA {eta}"

    def best_text(self):
        best, metric = self.results.best(), self.results.metric
        failed = len(self.results.failed)
        tail = f" · {failed} failed" if failed else ""
        if best is None:
            return f"best: –{tail}"
        return f"{_best_name(metric)} {best.metrics[metric]:.4g} at {_params(best.params)}{tail}"


class _Off:
    def update(self, record):
        pass

    def close(self, status):
        pass


class TextSweepProgress(_Progress):
    """One line per finished configuration."""

    def __init__(self, results, to_run, clock=time.perf_counter, out=None):
        super().__init__(results, to_run, clock)
        self.out = out or functools.partial(print, flush=True)  # flushed: a log file shows each line as it comes
        cached = self.total - to_run
        if cached:
            self.out(f"sweep: {cached} of {self.total} configurations from the cache, running {to_run}")
        if _cap_text():
            self.out(f"sweep: every training run's {_cap_text()} (unset it for the full runs)")

    def update(self, record):
        self.count(record)
        metric = self.results.metric
        if record.ok:
            value = record.metrics.get(metric)
            what = f"{metric} {value:.4g}" if isinstance(value, float) else "ok"
        else:
            what = f"FAILED: {record.error.splitlines()[0]}"
        seconds = "" if record.seconds is None else f" in {record.seconds:.1f} s"
        self.out(f"[{self.timing()}] {_params(record.params)}: {what}{seconds} · {self.best_text()}")

    def close(self, status):
        if status != "done":
            self.out(f"sweep {status}: {self.timing(final=True)}")


def _layout(records):
    """How the x axis reads the grid: (group key, colour key, tick keys), or None for plain grid order.

    The configurations stay in grid order (the first parameter varies
    slowest). The parameters that vary are, in that order: the groups (one
    band each, named at its top), the colours (a legend), and the ticks under
    each point (the rest).
    """
    keys = list(records[0].params)
    if any(list(r.params) != keys for r in records):
        return None
    varying = [k for k in keys if len({repr(r.params[k]) for r in records}) > 1]
    if not varying:
        return None
    if len(varying) == 1:
        return None, None, varying
    return varying[0], varying[1], varying[2:] or [varying[1]]


class _SweepPlot:
    """The ranking metric of each configuration, in grid order, labelled by its parameters."""

    MAX_TICK_LABELS = 60  # more points than that: no label under each

    def __init__(self, results, figsize=(5.6, 3.2), dpi=100):
        self.results = results
        self.figure = _new_figure(figsize, dpi)
        self.ax = self.figure.add_subplot()
        self.layout = _layout(list(results))

    def _axis(self, ax):
        """Ticks, groups and colours from the parameters; returns the colour of each configuration."""
        records, layout = list(self.results), self.layout
        ax.set_xlim(-0.5, len(records) - 0.5)
        if layout is None:
            ax.set_xlabel("configuration (grid order)", fontsize=9)
            return ["C0"] * len(records)
        group, colour, ticks = layout
        if len(records) <= self.MAX_TICK_LABELS:
            labels = [",".join(_value(r.params[k]) for k in ticks) for r in records]
            rotate = max(map(len, labels)) * len(records) > 70
            ax.set_xticks(range(len(records)), labels, fontsize=7, rotation=90 if rotate else 0)
            ax.set_xlabel(", ".join(ticks), fontsize=9)
        else:
            ax.set_xticks([])
            ax.set_xlabel(f"configurations in grid order ({', '.join(ticks)} fastest)", fontsize=9)
        if group is not None:  # a band per value of the slowest parameter, named at its top
            start = 0
            for i in range(1, len(records) + 1):
                if i == len(records) or records[i].params[group] != records[start].params[group]:
                    if start:
                        ax.axvline(start - 0.5, color="0.6", lw=0.8)
                    name = f"{group}={_value(records[start].params[group])}"
                    middle = (start + i - 1) / 2
                    ax.text(middle, 0.98, name, transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=8)
                    start = i
        if colour is None:
            return ["C0"] * len(records)
        values = list(dict.fromkeys(repr(r.params[colour]) for r in records))
        for j, value in enumerate(values):
            shown = next(r.params[colour] for r in records if repr(r.params[colour]) == value)
            ax.plot([], [], "o", color=f"C{j % 10}", markersize=4, label=f"{colour}={_value(shown)}")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.3, frameon=False)
        return [f"C{values.index(repr(r.params[colour])) % 10}" for r in records]

    def png(self, title=" "):
        """The plot with ``title`` (one line or two; a blank one keeps the room of one line) as PNG bytes."""
        ax, metric = self.ax, self.results.metric
        ax.clear()
        colours = self._axis(ax)
        ax.set_ylabel(metric or "result", fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(True, axis="y", alpha=0.3)
        scored = [
            r
            for r in self.results
            if r.ok and isinstance(r.metrics.get(metric), float) and math.isfinite(r.metrics[metric])
        ]
        if scored:
            ys = [r.metrics[metric] for r in scored]
            ax.scatter([r.index for r in scored], ys, s=16, c=[colours[r.index] for r in scored], zorder=3)
            if min(ys) > 0 and max(ys) / min(ys) > 20:
                ax.set_yscale("log")
            best = self.results.best()
            if best is not None:
                ax.plot([best.index], [best.metrics[metric]], "o", mfc="none", mec="C3", markersize=10, zorder=4)
            low, high = ax.get_ylim()  # room at the top for the groups' names
            ax.set_ylim(low, high * 1.25 if ax.get_yscale() == "log" else high + 0.15 * (high - low))
        for r in self.results.failed:
            ax.axvline(r.index, color="C3", alpha=0.25, lw=3)
        self.title = ax.set_title(title, fontsize=9, loc="left")
        self.figure.tight_layout(pad=0.4)  # every label inside the image, the title's lines too
        self._fit_title(title)
        return _png(self.figure.canvas, redraw=True)

    def _fit_title(self, title):
        """Wrap the title's lines until it fits the image's width (tight_layout fits only its height)."""
        renderer = self.figure.canvas.get_renderer()
        width, chars = self.figure.bbox.width - 4, max(map(len, title.split("\n")))
        while self.title.get_window_extent(renderer).x1 > width and chars > 20:
            chars -= 6
            lines = [part for line in title.split("\n") for part in textwrap.wrap(line, chars) or [" "]]
            self.title.set_text("\n".join(lines))
            self.figure.tight_layout(pad=0.4)

    def saved(self, caption) -> bytes:
        """The latest frame with ``caption`` in the title slot: what a notebook saved mid-sweep shows."""
        return _stamped_png(self.ax, self.title, caption)


class SweepPanel(_Progress):
    """The live sweep panel (widgets); a static PNG once closed."""

    def __init__(self, results, to_run, *, clock=time.perf_counter, cpu_clock=time.thread_time, show=None):
        import ipywidgets as widgets

        super().__init__(results, to_run, clock)
        self.cpu_clock, self.limiter = cpu_clock, RateLimiter(clock=clock)
        self.plot = _SweepPlot(results)
        self.frames, self.closed = 0, False
        width = self.plot.figure.canvas.get_width_height()[0]
        self.image = widgets.Image(value=self.plot.png(), format="png", layout={"width": f"{width}px"})
        self.bar = widgets.IntProgress(
            value=len(results.done), min=0, max=max(self.total, 1), description="configs", bar_style="info"
        )
        self.timing_label = widgets.Label(self.timing())
        self.best_label = widgets.Label(self.best_text())
        row = widgets.HBox([self.bar, self.timing_label])
        cap = []  # as train_ch8 says it: the training runs are capped
        if _cap_text():
            cap = [widgets.Label(f"every training run's {_cap_text()} (unset it for the full runs)")]
        self.box = widgets.VBox([self.image, row, self.best_label, *cap])
        self.widgets = [self.box, row, self.image, self.bar, self.timing_label, self.best_label, *cap]
        self.panel = show_panel(self.box, self.plot.saved(self._saved_caption()), display=show, clock=clock)

    @property
    def handle(self):  # (the tests' fake display is the handle)
        return self.panel.handle

    def _saved_caption(self):
        return "saved while the sweep ran: run the cell again"

    def update(self, record):
        self.count(record)
        if self.ran >= self.to_run or self.limiter.ready():
            started, cpu = self.clock(), self.cpu_clock()
            self._refresh()
            self.limiter.record(started, self.cpu_clock() - cpu)

    def _refresh(self):
        self.image.value = self.plot.png()
        self.panel.keep(lambda: self.plot.saved(self._saved_caption()))  # what a save keeps (every 10 s at most)
        self.frames += 1
        self.bar.value = len(self.results.done)
        self.timing_label.value = self.timing()
        self.best_label.value = self.best_text()

    def close(self, status):
        if self.closed:
            return
        self.closed = True
        how = {"done": "finished", "interrupted": "interrupted"}.get(status, "stopped by an error")
        lines = [f"sweep {how}: {self.timing(final=True)}", self.best_text(), _cap_text()]
        png = self.plot.png("\n".join(line for line in lines if line))
        self.panel.finish(png, self.widgets, images=[self.image])


# --------------------------------------------------------------------------
# plot_sweep
# --------------------------------------------------------------------------


def _spread(values):
    """Whether positive numbers span enough (10x) to want a log axis."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return len(numbers) == len(values) and numbers and min(numbers) > 0 and max(numbers) / min(numbers) >= 10


def plot_sweep(results, x, y, hue=None, *, where=None, title=None, logx=None, logy=None):
    """``y`` against parameter ``x`` for each value of ``hue``, over the successful records of a sweep.

    ``where={"num_steps": 35}`` keeps only the records with those parameters.
    Every other parameter must be fixed (by the grid or by ``where``), so that
    each point is one configuration. ``logx``/``logy``: None chooses a log axis
    for positive values that span 10x or more. Returns a matplotlib Figure
    (shown as a PNG when it ends a notebook cell).
    """
    records = [r for r in results if r.ok]
    if not records:
        raise ValueError("the sweep has no successful configuration to plot")
    params = list(records[0].params)
    metrics = {k for r in records for k in r.metrics} | {"seconds"}
    for name, value, pool in [("x", x, params), ("hue", hue, params), ("y", y, metrics)]:
        if value is not None and value not in pool:
            raise ValueError(f"{name}={value!r} is not one of {sorted(pool)}")
    where = dict(where or {})
    records = [r for r in records if all(r.params.get(k) == v for k, v in where.items())]
    if not records:
        raise ValueError(f"no successful configuration has {where}")
    others = [p for p in params if p not in (x, hue, *where) and len({repr(r.params.get(p)) for r in records}) > 1]
    if others:
        values = sorted({r.params[others[0]] for r in records}, key=repr)
        raise ValueError(
            f"{others[0]!r} also varies ({values}): fix it, e.g. where={{{others[0]!r}: {values[0]!r}}}, "
            "or draw one figure per value"
        )

    def value_of(r):
        return r.seconds if y == "seconds" else r.metrics.get(y)

    figure = _new_figure((6.4, 3.4))
    ax = figure.add_subplot()
    groups = {}
    for r in records:
        groups.setdefault(r.params.get(hue) if hue else None, []).append(r)
    for i, (label, group) in enumerate(sorted(groups.items(), key=lambda kv: repr(kv[0]))):
        points = sorted((r.params[x], value_of(r)) for r in group if isinstance(value_of(r), (int, float)))
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, "o-", color=f"C{i % 10}", label=None if hue is None else f"{hue}={label!r}")
    xs = [r.params[x] for r in records]
    ys = [value_of(r) for r in records if isinstance(value_of(r), (int, float))]
    if logx if logx is not None else _spread(xs):
        ax.set_xscale("log")
        ax.set_xticks(sorted(set(xs)), [f"{v:g}" for v in sorted(set(xs))])
        ax.minorticks_off()
    if logy if logy is not None else _spread(ys):
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(True, alpha=0.3)
    if hue is not None:
        ax.legend(fontsize=8)
    fixed = ", ".join(f"{k}={v!r}" for k, v in where.items())
    ax.set_title(title or (f"{y} against {x}" + (f" ({fixed})" if fixed else "")), fontsize=10)
    figure.tight_layout()
    return figure
