"""Run one function over a grid of parameters, on every local core or on a Dask cluster.

::

    def experiment(num_hiddens, lr):        # a plain function, a notebook cell is fine
        ...
        return perplexity                   # a number, a dict of numbers, or a dataclass (History)

    results = d2l.sweep(experiment, {"num_hiddens": [64, 256], "lr": [0.5, 1]})
    results = d2l.sweep(experiment, grid, executor=client)      # a dask.distributed Client
    results = d2l.sweep(experiment, grid, cache="sweep.jsonl")  # re-run: only what is missing
    results.to_dataframe()                                      # with pandas installed

This module is the loop; it knows nothing about what the function does. It

1. expands ``param_grid`` in scikit-learn's ``ParameterGrid`` order and checks
   it against the function's signature before any worker starts
   (:mod:`~d2l_helpers.sweep_grid`);
2. reads the ``cache`` file (:mod:`~d2l_helpers.sweep_cache`): a configuration
   it holds from the same code (:mod:`~d2l_helpers.sweep_fingerprint`) is not
   run again, unless it failed (failures run again by default); results of
   other code are refused unless ``on_change`` says what to do with them;
   then it checks that the file can be written, all before any configuration runs;
3. runs each configuration on an executor (:mod:`~d2l_helpers.sweep_executors`):
   by default local worker processes from loky (one per core, one torch thread
   each; loky pickles with cloudpickle, so a function defined in a notebook's
   ``__main__`` runs in them); ``"serial"`` runs here, one after the other; a
   ``dask.distributed.Client`` or any ``concurrent.futures.Executor`` run them
   wherever they run things; each configuration is seeded from its parameters,
   so that the numbers do not depend on the executor;
4. records, in grid order: the parameters, what the function returned, the
   numbers in it, the wall time, the worker, and the error where it raised;
   a configuration that raises does not stop the others;
5. appends each finished configuration to the cache (one JSON line, written
   with one ``write`` and fsync'ed) as it arrives; if that write fails, the
   sweep stops with :class:`SweepCacheError`, whose ``.result`` holds
   everything that finished;
6. retries once, on its own, a configuration whose local worker died (killed,
   out of memory) on a fresh pool; if it dies again it is recorded as failed.
   Dask does this itself (``distributed.scheduler.allowed-failures``).

Kernel > Interrupt (Ctrl-C) follows the package's rule (``d2l_helpers.utils``):
the first one cancels what has not started and lets the running
configurations finish (their results are kept), and says so; a second one
stops at once: the local workers are killed, and on Dask the futures are
cancelled (a task that has started runs to its end on its worker, and its
result is dropped). Either way the panel is finalised and
:class:`SweepInterrupted` (a ``TrainingInterrupted``) stops the cell; what
finished is in the cache, in the exception's ``.result`` and in
:func:`last_sweep`.
"""

from __future__ import annotations

from collections import deque

from .sweep_cache import Cache, SweepCacheError, record_from_cache
from .sweep_executors import Backend, run_config
from .sweep_fingerprint import PYTHON, Fingerprint
from .sweep_grid import check_keys_can_be_cached, check_signature, config_key, config_seed, expand_grid
from .sweep_results import Record, SweepResults, metrics_of
from .utils import StopOnInterrupt, TrainingInterrupted, check_int

__all__ = [
    "Record",
    "SweepCacheError",
    "SweepInterrupted",
    "SweepResults",
    "config_key",
    "expand_grid",
    "last_sweep",
    "sweep",
]

_POLL = 0.2  # seconds between looks at the futures (and at Ctrl-C) when nothing finishes
_ON_CHANGE = ("error", "rerun", "keep")
_last = None


class SweepInterrupted(TrainingInterrupted):
    """Ctrl-C stopped a sweep; ``.result`` holds the :class:`SweepResults` so far."""


class _WriteFailed(Exception):
    """Raised inside the loop when the cache could not take a result: the sweep stops (see :class:`SweepCacheError`)."""

    def __init__(self, index, error):
        super().__init__(index, error)
        self.index, self.error = index, error


def last_sweep():
    """The :class:`SweepResults` of the latest sweep in this process, interrupted or not (None before any)."""
    return _last


# --------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------


def sweep(
    experiment, param_grid, executor=None, cache=None, *, n_workers=None, metric=None, goal="min", plot="auto",
    on_change="error", rerun_failed=True,
):  # fmt: skip
    """Run ``experiment(**params)`` for every configuration of ``param_grid``; return a :class:`SweepResults`.

    ``executor``: None (local worker processes, ``n_workers`` of them, one per
    core by default), ``"serial"`` (here, one after the other), a
    ``dask.distributed.Client`` or a ``concurrent.futures.Executor`` (a thread
    pool runs one configuration at a time: see :mod:`~d2l_helpers.sweep_executors`).
    ``cache``: a ``.jsonl`` path; finished configurations are appended to it
    and not run again, except failed ones (``rerun_failed=False`` keeps their
    errors). A configuration the file holds from other code (the function's
    body, a default or a global value it reads changed) is an error, unless
    ``on_change`` is ``"rerun"`` (run it again) or ``"keep"`` (use the old result).
    ``metric`` (a key of the returned numbers; by default the first) and
    ``goal`` (``"min"`` or ``"max"``) pick the best result the panel shows;
    ``plot`` is the panel's mode, as in ``train_ch8``.
    """
    global _last
    from .dashboard import resolve_mode
    from .sweep_panel import make_sweep_panel

    # Everything that can be checked is checked before anything is written or run.
    configs = expand_grid(param_grid)
    check_signature(experiment, configs)
    if goal not in ("min", "max"):
        raise ValueError(f"goal must be 'min' or 'max', got {goal!r}")
    if n_workers is not None:
        n_workers = check_int("n_workers", n_workers)
    if on_change not in _ON_CHANGE:
        raise ValueError(f"on_change must be 'error', 'rerun' or 'keep', got {on_change!r}")
    if not isinstance(rerun_failed, bool):
        raise TypeError(f"rerun_failed must be True or False, got {type(rerun_failed).__name__} {rerun_failed!r}")
    mode = resolve_mode(plot)
    name = f"{getattr(experiment, '__module__', '?')}.{getattr(experiment, '__qualname__', repr(experiment))}"

    keys = [config_key(c) for c in configs]
    records = [Record(index=i, params=c) for i, c in enumerate(configs)]
    store, codes, todo, failed_before = None, [None] * len(configs), list(range(len(configs))), []
    if cache is not None:
        check_keys_can_be_cached(configs)
        store = Cache(cache, name)
        fingerprint = Fingerprint(experiment)
        codes = [fingerprint.of(c) for c in configs]
        todo, failed_before = _plan(store, configs, keys, codes, records, on_change, rerun_failed)
    todo = deque(todo)
    results = SweepResults(records, metric=metric, goal=goal)
    _last = results
    backend = Backend(executor, n_workers)  # a bad executor is an error before any file is written or panel shows
    if store is not None:
        store.prepare()  # the cache can be written: checked before the first configuration runs
    if failed_before and mode != "off":
        print(
            f"sweep: {len(failed_before)} configuration(s) that failed before run again "
            "(rerun_failed=False keeps their errors)",
            flush=True,
        )
    panel = make_sweep_panel(plot, results, to_run=len(todo))

    def finish(i, outcome):
        record = records[i]
        record.value, record.error = outcome["value"], outcome["error"]
        record.seconds, record.worker = outcome["seconds"], outcome["worker"]
        if record.error is None:
            try:
                record.metrics = metrics_of(record.value)
            except TypeError as e:
                record.error = str(e)
        record.status = "failed" if record.error else "ok"
        if store is not None:
            try:
                store.append(keys[i], record, codes[i])
            except OSError as e:  # the result stays in memory; the sweep stops (see the except below)
                panel.update(record)
                raise _WriteFailed(i, e) from e
        panel.update(record)

    in_flight, retry, attempts = {}, deque(), dict.fromkeys(todo, 0)
    status, stop = "error", StopOnInterrupt()
    try:
        if backend.kind == "serial":  # here: an interrupt reaches the function itself (train_ch8 handles it)
            while todo:
                i = todo.popleft()
                finish(i, run_config(experiment, configs[i], config_seed(configs[i])))
        with stop:
            acknowledged = False
            while todo or retry or in_flight:
                if stop.requested and not acknowledged:  # the first Ctrl-C: nothing new starts, and we say so
                    acknowledged = True
                    cancelled = backend.cancel_pending(list(in_flight))
                    not_started = len(todo) + len(retry) + cancelled
                    todo.clear()
                    retry.clear()
                    print(
                        f"Interrupted: {not_started} configuration(s) that had not started will not run; waiting "
                        f"for the {len(in_flight) - cancelled} running one(s) to finish "
                        f"(interrupt again to {backend.second_interrupt})",
                        flush=True,
                    )
                _step(backend, experiment, configs, todo, retry, in_flight, attempts, finish, stop)
        if stop.requested:
            raise KeyboardInterrupt
        status = "done"
    except KeyboardInterrupt:
        status = "interrupted"
        try:
            for future in [f for f in in_flight if f.done() and not f.cancelled()]:  # arrived: keep it
                _take_in(backend, future, in_flight, retry, attempts, finish)
        except (KeyboardInterrupt, _WriteFailed):  # a third Ctrl-C, or a full disk: keep what was taken in
            pass
        backend.cancel(list(in_flight))
        message = _interrupt_message(results, store)  # said once, by the exception (one line in IPython)
        raise SweepInterrupted(message, result=results) from None
    except _WriteFailed as failure:
        backend.cancel(list(in_flight))
        message = _write_failed_message(results, store, configs[failure.index], failure.error)
        raise SweepCacheError(message, result=results) from failure.error
    finally:
        try:
            panel.close(status)
        finally:
            backend.release()
    return results


def _plan(store, configs, keys, codes, records, on_change, rerun_failed):
    """Which configurations run (grid order), taking the cached ones into ``records``; and which failed before."""
    todo, stale, failed = [], [], []
    for i, key in enumerate(keys):
        entry = store.get(key)
        if entry is None:
            todo.append(i)
            continue
        if entry.get("code") != codes[i]:  # computed by other code
            stale.append(i)
            if on_change == "rerun":
                todo.append(i)
                continue
        if entry["error"] and rerun_failed:
            failed.append(i)
            todo.append(i)
            continue
        records[i] = record_from_cache(i, configs[i], entry, store.allowed)
    if stale and on_change == "error":
        raise ValueError(_changed_message(store, [configs[i] for i in stale], [store.get(keys[i]) for i in stale]))
    return todo, failed


def _params(params):
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def _changed_message(store, configs, entries):
    shown = "; ".join(_params(c) for c in configs[:3]) + ("; ..." if len(configs) > 3 else "")
    if all(e.get("code") is None for e in entries):
        why = (
            "they were written by an earlier d2l_helpers, which did not record the function's code, so they "
            "cannot be checked against it"
        )
    else:
        why = (
            f"the code of {store.function} has changed since they were computed (its body, a default, or a "
            "global value or helper function it reads)"
        )
        others = sorted({e.get("python") for e in entries} - {None, PYTHON})
        if others:
            why += (
                f", or only Python did: they were written under Python {', '.join(others)}, this is {PYTHON}, "
                "and the same code compiles differently"
            )
    return (
        f"cache {store.path} holds results for {len(configs)} of these configurations ({shown}) from other code: "
        f"{why}. Their numbers would stand beside the new code's. Pass on_change='rerun' to run them again with "
        "this code (new lines are added; the newest line of a configuration wins), on_change='keep' to use the "
        "old results anyway, or another cache= file to start a new cache"
    )


def _write_failed_message(results, store, params, error):
    done = len(results.done)
    return (
        f"sweep stopped: the result of {_params(params)} could not be written to the cache {store.path} "
        f"({type(error).__name__}: {error}). The {done} finished configuration(s) are kept in this exception's "
        ".result and in d2l.last_sweep(), this one included; the ones still running were stopped. Fix the cause "
        "(disk space, the file), then run the same call: it runs only what the cache does not hold"
    )


def _step(backend, experiment, configs, todo, retry, in_flight, attempts, finish, stop):
    """Submit what may start, wait a little, and take in what finished.

    Taking in a finished configuration (out of ``in_flight``, into its record
    and the cache) is shielded from a second Ctrl-C, which would otherwise
    lose a result that had arrived.
    """
    backend.look_at_workers()  # Dask: new workers are shielded even when nothing is left to submit
    # A configuration retried after its worker died runs alone: if the pool dies again, it was that one.
    if retry and not in_flight:
        i = retry.popleft()
        in_flight[backend.submit(experiment, configs[i], config_seed(configs[i]))] = i
    while todo and not retry and (backend.capacity is None or len(in_flight) < backend.capacity):
        i = todo.popleft()
        in_flight[backend.submit(experiment, configs[i], config_seed(configs[i]))] = i
    done = backend.wait(list(in_flight), _POLL)
    broken = False
    with stop.shielded():  # the whole set: a deferred second Ctrl-C must not leave some of it behind
        for future in done:
            broken = _take_in(backend, future, in_flight, retry, attempts, finish) or broken
    if broken:
        backend.renew()


def _take_in(backend, future, in_flight, retry, attempts, finish) -> bool:
    """Record a finished future (or queue its retry); True if its worker died."""
    i = in_flight.pop(future)
    if future.cancelled():  # cancelled by an interrupt before it started: stays "not run"
        return False
    error = future.exception()
    if isinstance(error, KeyboardInterrupt):  # an interrupt reached the worker: not run, not cached
        return False
    attempts[i] += 1
    if error is None:
        finish(i, future.result())  # (on Dask fetched from the worker: a third Ctrl-C stops a fetch that hangs)
        return False
    if backend.died(error) and attempts[i] < 2:
        retry.append(i)
        return True
    how = "its worker died twice" if backend.died(error) else "the executor failed"
    finish(i, {"value": None, "error": f"{how}: {type(error).__name__}: {error}"} | _nowhere())
    return backend.died(error)


def _nowhere():
    return {"seconds": None, "worker": None}


def _interrupt_message(results, store):
    done = sum(r.status != "not run" for r in results)
    where = f"; they are in {store.path}, and the same call runs only the rest" if store is not None else ""
    return (
        f"sweep interrupted: {done} of {len(results)} configurations finished{where}. "
        "The results so far: d2l.last_sweep() (or this exception's .result)."
    )
