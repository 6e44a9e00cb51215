"""The sweep's live panel, and ``plot_sweep`` for its results.

The panel follows the training dashboard (:mod:`d2l_helpers.dashboard`):

* ``'widget'`` (in a kernel): one box of core ipywidgets: a plot of the
  ranking metric of every finished configuration (the best one ringed), a
  progress bar with "done/total · elapsed · ETA", and the best result so far.
  Nothing is cleared; redraws are rate-limited; ``close`` replaces the box in
  place by a static PNG (same constant text/plain) and closes the widgets.
* ``'text'`` (scripts, CI logs): one line per finished configuration.
* ``'off'``: nothing.

``plot_sweep(results, x=, y=, hue=)`` draws ``y`` against ``x``, one line per
value of ``hue``, as a matplotlib Figure drawn off-screen (no pyplot).
"""

from __future__ import annotations

import functools
import math
import time
import warnings

from .dashboard import (
    RateLimiter,
    _fmt_time,
    _have_ipywidgets,
    _in_kernel,
    _new_figure,
    _png,
    finish_panel,
    resolve_mode,
    show_panel,
)

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


class _Progress:
    """Counting and words shared by the text and widget displays."""

    def __init__(self, results, to_run, clock=time.perf_counter):
        self.results, self.to_run, self.clock = results, to_run, clock
        self.total, self.ran = len(results), 0
        self.t0 = clock()

    def count(self, record):
        self.ran += not record.cached

    def timing(self):
        """'12/27 done · 0:41 elapsed · ETA 1:10' (the ETA from this call's configurations)."""
        done, elapsed = len(self.results.done), self.clock() - self.t0
        left = self.to_run - self.ran
        eta = _fmt_time(elapsed / self.ran * left) if self.ran else "–"
        return f"{done}/{self.total} done · {_fmt_time(elapsed)} elapsed · ETA {eta}"

    def best_text(self):
        best, metric = self.results.best(), self.results.metric
        failed = len(self.results.failed)
        tail = f" · {failed} failed" if failed else ""
        if best is None:
            return f"best: –{tail}"
        return f"best {metric} {best.metrics[metric]:.4g} at {_params(best.params)}{tail}"


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
            self.out(f"sweep {status}: {self.timing()}")


class _SweepPlot:
    """The ranking metric of each finished configuration against its place in the grid."""

    def __init__(self, results, figsize=(5.6, 2.6), dpi=100):
        self.results = results
        self.figure = _new_figure(figsize, dpi)
        self.figure.subplots_adjust(left=0.12, right=0.98, top=0.88, bottom=0.18)
        self.ax = self.figure.add_subplot()

    def png(self, title):
        ax, metric = self.ax, self.results.metric
        ax.clear()
        ax.set_xlim(-0.5, len(self.results) - 0.5)
        ax.set_xlabel("configuration (grid order)", fontsize=9)
        ax.set_ylabel(metric or "result", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
        points = [
            (r.index, r.metrics[metric])
            for r in self.results
            if r.ok and isinstance(r.metrics.get(metric), float) and math.isfinite(r.metrics[metric])
        ]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, "o", color="C0", markersize=4)
            if min(ys) > 0 and max(ys) / min(ys) > 20:
                ax.set_yscale("log")
            best = self.results.best()
            if best is not None:
                ax.plot([best.index], [best.metrics[metric]], "o", mfc="none", mec="C3", markersize=10)
        failed = [r.index for r in self.results.failed]
        if failed:
            for i in failed:
                ax.axvline(i, color="C3", alpha=0.25, lw=3)
        ax.set_title(title, fontsize=9, loc="left")
        return _png(self.figure.canvas, redraw=True)


class SweepPanel(_Progress):
    """The live sweep panel (widgets); a static PNG once closed."""

    def __init__(self, results, to_run, *, clock=time.perf_counter, cpu_clock=time.thread_time, show=None):
        import ipywidgets as widgets

        super().__init__(results, to_run, clock)
        self.cpu_clock, self.limiter = cpu_clock, RateLimiter(clock=clock)
        self.plot = _SweepPlot(results)
        self.frames, self.closed = 0, False
        width = self.plot.figure.canvas.get_width_height()[0]
        self.image = widgets.Image(value=self.plot.png("sweep"), format="png", layout={"width": f"{width}px"})
        self.bar = widgets.IntProgress(
            value=len(results.done), min=0, max=max(self.total, 1), description="configs", bar_style="info"
        )
        self.timing_label = widgets.Label(self.timing())
        self.best_label = widgets.Label(self.best_text())
        row = widgets.HBox([self.bar, self.timing_label])
        self.box = widgets.VBox([self.image, row, self.best_label])
        self.widgets = [self.box, row, self.image, self.bar, self.timing_label, self.best_label]
        self.handle = show_panel(self.box, display=show)

    def update(self, record):
        self.count(record)
        if self.ran >= self.to_run or self.limiter.ready():
            started, cpu = self.clock(), self.cpu_clock()
            self._refresh()
            self.limiter.record(started, self.cpu_clock() - cpu)

    def _refresh(self):
        self.image.value = self.plot.png(f"{len(self.results.done)}/{self.total} configurations")
        self.frames += 1
        self.bar.value = len(self.results.done)
        self.timing_label.value = self.timing()
        self.best_label.value = self.best_text()

    def close(self, status):
        if self.closed:
            return
        self.closed = True
        how = {"done": "finished", "interrupted": "interrupted"}.get(status, "stopped by an error")
        png = self.plot.png(f"sweep {how}: {self.timing()}\n{self.best_text()}")
        finish_panel(self.handle, png, self.widgets, images=[self.image])


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
