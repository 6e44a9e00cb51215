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

``Cache`` is the sweep's JSON-lines file of finished configurations.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import numbers
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cache", "Record", "SweepResults", "metrics_of", "record_from_cache"]


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
    if isinstance(value, dict) and "__dataclass__" in value:  # a dataclass read back from a cache as fields
        fields = {k: v[-1] if isinstance(v, list) and v else v for k, v in value.items() if k != "__dataclass__"}
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


# --------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------


def _to_json(value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__dataclass__": f"{type(value).__module__}:{type(value).__qualname__}", **fields}
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if hasattr(value, "tolist"):  # NumPy arrays, tensors
        return _to_json(value.tolist())
    return {"__repr__": repr(value)}


def _from_json(value):
    """What :func:`_to_json` wrote; a dataclass comes back as itself where its class still imports."""
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if not isinstance(value, dict):
        return value
    value = {k: _from_json(v) for k, v in value.items()}
    name = value.pop("__dataclass__", None)
    if name is not None:
        module, _, qualname = name.partition(":")
        try:
            cls = importlib.import_module(module)
            for part in qualname.split("."):
                cls = getattr(cls, part)
            return cls(**value)
        except Exception:  # the class is gone or changed: keep the fields
            value["__dataclass__"] = name
    return value


class Cache:
    """A JSON-lines file: one finished configuration per line, appended as it finishes."""

    def __init__(self, path, function):
        self.path, self.function = os.fspath(path), function
        self.records = {}
        if os.path.exists(self.path):
            self._read()

    def _read(self):
        with open(self.path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):  # a line cut short by a crash: that configuration runs again
                    continue
                raise ValueError(f"cache {self.path}, line {number}, is not JSON; delete that line") from None
            if entry.get("function") != self.function:
                raise ValueError(
                    f"cache {self.path} holds results of {entry.get('function')!r}, not of {self.function!r}; "
                    "pass another cache file (or delete this one) for a different experiment"
                )
            self.records[entry["key"]] = entry

    def get(self, key):
        return self.records.get(key)

    def append(self, key, record):
        entry = {
            "key": key,
            "function": self.function,
            "params": record.params,
            "value": _to_json(record.value),
            "seconds": record.seconds,
            "worker": record.worker,
            "error": record.error,
        }
        line = (json.dumps(entry) + "\n").encode("utf-8")
        # One write of the whole line to a file opened for appending, then fsync:
        # a crash leaves at most a last, incomplete line, which _read skips.
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # a last line cut short by a crash: drop it first
                os.ftruncate(fd, os.pread(fd, size, 0).rfind(b"\n") + 1)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.records[key] = entry


def record_from_cache(index, params, entry):
    return Record(
        index=index,
        params=params,
        value=_from_json(entry["value"]),
        seconds=entry["seconds"],
        worker=entry["worker"],
        error=entry["error"],
        status="failed" if entry["error"] else "ok",
        cached=True,
    )
