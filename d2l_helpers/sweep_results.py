"""What :func:`d2l_helpers.sweep.sweep` returns: one :class:`Record` per configuration, in grid order.

A record keeps what the function returned (``value``) and the numbers in it
(``metrics``, what tables and plots use):

* a number ``x`` gives ``{"value": x}``;
* a dict gives its numbers (and its strings, such as a text sample); other
  entries stay in ``value`` only;
* a dataclass (``train_ch8``'s ``History``) gives its number fields and the
  last entry of each list of numbers (``perplexity`` is the final perplexity).

``SweepResults`` is a list of records with a short table as its repr,
``best()``, ``failed`` and ``to_dataframe()`` (pandas, where it is installed).
The cache file of finished configurations is :mod:`d2l_helpers.sweep_cache`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Record", "SweepResults", "metrics_of"]

# A dict read back from a cache in place of a dataclass carries its type's name under one of these keys.
TYPE_TAGS = ("__dataclass__", "__fields_of__")


@dataclass
class Record:
    """One configuration: its parameters, what it returned, how long it took, where, and how it ended."""

    index: int
    params: dict
    value: Any = None
    metrics: dict = field(default_factory=dict)
    seconds: float | None = None
    worker: str | None = None
    error: str | None = None
    status: str = "not run"  # 'ok', 'failed' or 'not run' (interrupted before it ran)
    cached: bool = False  # read from the cache file, not run by this call

    def __post_init__(self):
        if self.status == "ok" and not self.metrics:
            self.metrics = metrics_of(self.value)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def metrics_of(value) -> dict:
    """The numbers (and strings) in what an experiment returned; TypeError for anything else."""
    if _number(value):
        return {"value": float(value)}
    if isinstance(value, dict) and any(tag in value for tag in TYPE_TAGS):  # a dataclass read back as its fields
        fields = {k: v[-1] if isinstance(v, list) and v else v for k, v in value.items() if k not in TYPE_TAGS}
        return {k: v for k, v in metrics_of(fields).items() if _number(v)}
    if isinstance(value, dict):
        return {str(k): float(v) if _number(v) else v for k, v in value.items() if _number(v) or isinstance(v, str)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if isinstance(v, (list, tuple)) and v and all(_number(x) for x in v):
                v = v[-1]
            if _number(v):
                out[f.name] = float(v)
        return out
    raise TypeError(
        f"the experiment returned {type(value).__name__} {value!r:.80}; "
        "return a number, a dict of numbers, or a dataclass such as train_ch8's History"
    )


class SweepResults(list):
    """The records of a sweep, in grid order. ``metric`` and ``goal`` say what "best" means."""

    def __init__(self, records, metric=None, goal="min"):
        super().__init__(records)
        self._metric, self.goal = metric, goal

    @property
    def metric(self):
        """The number that ranks the results: the one asked for, or the first number of the first result."""
        if self._metric is not None:
            return self._metric
        for record in self:
            for key, value in record.metrics.items():
                if _number(value):
                    return key
        return None

    @property
    def failed(self):
        return [r for r in self if r.status == "failed"]

    @property
    def done(self):
        return [r for r in self if r.status != "not run"]

    def best(self, metric=None, goal=None):
        """The successful record with the lowest (``goal="max"``: highest) ``metric``; None if there is none."""
        metric, goal = metric or self.metric, goal or self.goal
        scored = [r for r in self if r.ok and _number(r.metrics.get(metric)) and math.isfinite(r.metrics[metric])]
        if not scored:
            return None
        pick = min if goal == "min" else max
        return pick(scored, key=lambda r: r.metrics[metric])

    def rows(self):
        """One flat dict per record: parameters, metrics, seconds, worker, status, error."""
        return [
            {
                **r.params,
                **r.metrics,
                "seconds": r.seconds,
                "worker": r.worker,
                "status": r.status,
                "cached": r.cached,
                "error": None if r.error is None else r.error.splitlines()[0],
            }
            for r in self
        ]

    def to_dataframe(self):
        """The rows as a pandas DataFrame (pandas is not a dependency: ``pip install pandas``)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install pandas (or use results.rows())") from None
        return pd.DataFrame(self.rows())

    def __repr__(self):
        metric = self.metric
        lines = [f"<SweepResults: {len(self.done)} of {len(self)} configurations run, {len(self.failed)} failed>"]
        for r in self:
            params = ", ".join(f"{k}={v!r}" for k, v in r.params.items())
            if r.ok:
                shown = r.metrics.get(metric)
                what = f"{metric} {shown:.4g}" if _number(shown) else "ok"
            else:
                what = r.status if r.error is None else f"failed: {r.error.splitlines()[0][:70]}"
            time = "" if r.seconds is None else f" ({r.seconds:.1f} s)"
            lines.append(f"  [{r.index}] {params}: {what}{time}")
        return "\n".join(lines)
