"""Run one function over a grid of parameters, on every local core or on a Dask cluster.

::

    def experiment(num_hiddens, lr):        # a plain function, a notebook cell is fine
        ...
        return perplexity                   # a number, a dict of numbers, or a dataclass (History)

    results = d2l.sweep(experiment, {"num_hiddens": [64, 256], "lr": [0.5, 1]})
    results = d2l.sweep(experiment, grid, executor=client)      # a dask.distributed Client
    results = d2l.sweep(experiment, grid, cache="sweep.jsonl")  # re-run: only what is missing
    results.to_dataframe()                                      # with pandas installed

This module knows nothing about what the function does. It

1. expands ``param_grid`` in scikit-learn's ``ParameterGrid`` order (a dict of
   lists: the cartesian product, keys sorted, the last key changing fastest; or
   a list of such dicts, one after the other) and checks it against the
   function's signature before any worker starts;
2. runs each configuration on an executor: by default local worker processes
   from loky (one per core, one torch thread each; loky pickles with
   cloudpickle, so a function defined in a notebook's ``__main__`` runs in
   them); ``"serial"`` runs here, one after the other; a ``dask.distributed.Client``
   or any ``concurrent.futures.Executor`` run them wherever they run things;
3. seeds each configuration from its parameters (:func:`~d2l_helpers.utils.set_seed`
   with a hash of them), so that the numbers do not depend on the executor;
4. records, in grid order: the parameters, what the function returned, the
   numbers in it, the wall time, the worker, and the error where it raised;
   a configuration that raises does not stop the others;
5. appends each finished configuration to the ``cache`` file (one JSON line,
   written with one ``write`` and fsync'ed) as it arrives, and on the next call
   with that file runs only the configurations it does not hold;
6. retries once, on its own, a configuration whose local worker died (killed,
   out of memory) on a fresh pool; if it dies again it is recorded as failed.
   Dask does this itself (``distributed.scheduler.allowed-failures``).

Kernel > Interrupt (Ctrl-C) follows the package's rule (``d2l_helpers.utils``):
the first one cancels what has not started and lets the running
configurations finish (their results are kept); a second one stops at once:
the local workers are killed, and on Dask the futures are cancelled (a task
that has started runs to its end on its worker, and its result is dropped).
Kernel > Interrupt signals the kernel's whole process group: the local
workers, and the worker processes of a Dask ``LocalCluster`` started in the
notebook, ignore SIGINT while a sweep runs. Either way the panel is finalised and
:class:`SweepInterrupted` (a ``TrainingInterrupted``) stops the cell; what
finished is in the cache, in the exception's ``.result`` and in
:func:`last_sweep`.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import inspect
import itertools
import json
import math
import os
import random
import signal
import socket
import threading
import time
import traceback
from collections import deque

from .sweep_results import Cache, Record, SweepResults, metrics_of, record_from_cache
from .utils import StopOnInterrupt, TrainingInterrupted, set_seed

__all__ = ["Record", "SweepInterrupted", "SweepResults", "expand_grid", "last_sweep", "sweep"]

_POLL = 0.2  # seconds between looks at the futures (and at Ctrl-C) when nothing finishes
_last = None


class SweepInterrupted(TrainingInterrupted):
    """Ctrl-C stopped a sweep; ``.result`` holds the :class:`SweepResults` so far."""


def last_sweep():
    """The :class:`SweepResults` of the latest sweep in this process, interrupted or not (None before any)."""
    return _last


# --------------------------------------------------------------------------
# The grid
# --------------------------------------------------------------------------


def expand_grid(param_grid):
    """The configurations of ``param_grid``, in scikit-learn's ``ParameterGrid`` order.

    >>> expand_grid({"b": [1, 2], "a": ["x", "y"]})
    [{'a': 'x', 'b': 1}, {'a': 'x', 'b': 2}, {'a': 'y', 'b': 1}, {'a': 'y', 'b': 2}]
    """
    grids = [param_grid] if isinstance(param_grid, dict) else param_grid
    if not isinstance(grids, (list, tuple)) or not grids:
        raise TypeError(
            "param_grid must be a dict of lists ({'lr': [0.1, 1], 'num_hiddens': [64, 256]}) "
            f"or a non-empty list of such dicts, got {param_grid!r}"
        )
    configs = []
    for i, grid in enumerate(grids):
        where = "param_grid" if isinstance(param_grid, dict) else f"param_grid[{i}]"
        if not isinstance(grid, dict):
            raise TypeError(f"{where} must be a dict of lists, got {type(grid).__name__} {grid!r}")
        if not grid:
            raise ValueError(f"{where} is empty: give each parameter a list of values")
        for key, values in grid.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise TypeError(f"{where} has the key {key!r}: keys must be the function's argument names")
            if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
                raise TypeError(f"{where}[{key!r}] must be a list of values, got {values!r}; write [{values!r}]")
            if len(list(values)) == 0:
                raise ValueError(f"{where}[{key!r}] is an empty list: give it at least one value")
        keys = sorted(grid)
        for combo in itertools.product(*(list(grid[k]) for k in keys)):
            configs.append({k: _plain(v) for k, v in zip(keys, combo)})
    keys = [config_key(c) for c in configs]
    for key in keys:
        if keys.count(key) > 1:
            raise ValueError(f"the configuration {key} appears more than once in param_grid")
    return configs


def _plain(value):
    """NumPy scalars as Python numbers, so that keys, seeds and the cache do not depend on where they came from."""
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def config_key(params) -> str:
    """A stable text for ``params``: the cache's key and the seed's source."""

    def default(obj):
        name = getattr(obj, "__qualname__", None)  # functions and classes: by name, never by address
        return f"{getattr(obj, '__module__', '?')}.{name}" if name else repr(obj)

    return json.dumps(params, sort_keys=True, default=default)


def config_seed(params) -> int:
    """The seed of one configuration: the first 32 bits of the SHA-256 of its key."""
    return int(hashlib.sha256(config_key(params).encode()).hexdigest()[:8], 16)


def _check_signature(fn, configs):
    if not callable(fn):
        raise TypeError(f"experiment must be a function, got {type(fn).__name__} {fn!r}")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # builtins without a signature: let the call tell
    kinds = {p.name: p.kind for p in signature.parameters.values()}
    takes_any = inspect.Parameter.VAR_KEYWORD in kinds.values()
    by_keyword = {n for n, k in kinds.items() if k in (k.POSITIONAL_OR_KEYWORD, k.KEYWORD_ONLY)}
    required = {
        p.name
        for p in signature.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    name = getattr(fn, "__name__", repr(fn))
    for params in configs:
        unknown = sorted(set(params) - by_keyword) if not takes_any else []
        if unknown:
            raise TypeError(
                f"{name}{signature} takes no argument {unknown[0]!r} (from param_grid); "
                f"rename the key or add the argument to {name}"
            )
        missing = sorted(required - set(params))
        if missing:
            raise TypeError(
                f"{name}{signature} needs {missing[0]!r}, which param_grid does not give for {params}; "
                "add it to the grid or give the argument a default"
            )


# --------------------------------------------------------------------------
# One configuration, in a worker
# --------------------------------------------------------------------------


# Python's ``random`` functions are methods of one hidden generator shared by all
# threads. A Dask worker runs tasks in a thread while its event loop draws from
# that generator too (tornado's timer jitter), which would shift a seeded
# configuration's numbers. So a configuration run outside the main thread gets
# a generator of its own: while it runs, the module's functions dispatch on the
# calling thread (other threads still get the shared generator).
_RANDOM_FUNCTIONS = [
    name
    for name in dir(random.Random)
    if not name.startswith("_") and callable(getattr(random, name, None)) and name not in ("Random", "SystemRandom")
]
_thread_random = {}


def _dispatching(name):
    def function(*args, **kwargs):
        generator = _thread_random.get(threading.get_ident(), random._inst)
        return getattr(generator, name)(*args, **kwargs)

    function.__name__ = name
    return function


def _own_random():
    """Give the calling (non-main) thread its own ``random`` generator; returns the thread id to release."""
    if not getattr(random, "_d2l_dispatching", False):
        for name in _RANDOM_FUNCTIONS:
            setattr(random, name, _dispatching(name))
        random._d2l_dispatching = True
    ident = threading.get_ident()
    _thread_random[ident] = random.Random()
    return ident


def run_config(fn, params, seed, threads=None):
    """Run ``fn(**params)`` after seeding; what a worker sends back (a dict; never raises for ``fn``'s errors)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    owner = None if threading.current_thread() is threading.main_thread() else _own_random()
    set_seed(seed)
    start = time.perf_counter()
    value, error = None, None
    try:
        value = fn(**params)
    except Exception as e:  # recorded; the sweep goes on with the others
        error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}"
    finally:
        if owner is not None:
            del _thread_random[owner]
    return {
        "value": value,
        "error": error,
        "seconds": time.perf_counter() - start,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


# --------------------------------------------------------------------------
# Executors
# --------------------------------------------------------------------------


_NOTHING = object()
_saved_sigint = _NOTHING  # in a Dask worker process: its SIGINT handler while a sweep of ours ignores it


def _ignore_sigint_in_group(pgid):
    """Run on each Dask worker: ignore SIGINT if the worker is in the sweep's process group.

    Kernel > Interrupt signals the kernel's whole process group, and the worker
    processes of a ``LocalCluster`` started in the notebook belong to it: without
    this they die of the interrupt that should only stop the sweep from starting
    more. Workers started elsewhere (another process group, another machine)
    are left alone.
    """
    global _saved_sigint
    if os.getpgrp() != pgid or threading.current_thread() is not threading.main_thread():
        return False
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _saved_sigint is _NOTHING:  # (a second call, from a second look at the workers, keeps the first)
        _saved_sigint = signal.default_int_handler if previous is None else previous  # None: not set from Python
    return True


def _restore_sigint():
    global _saved_sigint
    if _saved_sigint is not _NOTHING and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _saved_sigint)
        _saved_sigint = _NOTHING


def _is_dask_client(executor) -> bool:
    """A ``distributed.Client``, recognised without importing dask.

    (``client.get_executor()`` is a ``concurrent.futures.Executor``, and goes that way.)
    """
    return (
        type(executor).__module__.startswith("distributed")
        and not isinstance(executor, cf.Executor)
        and all(hasattr(executor, name) for name in ("submit", "nthreads", "processing"))
    )


class _Backend:
    """Submits configurations and says which finished: loky, Dask, a concurrent.futures executor, or here."""

    def __init__(self, executor, n_workers):
        self.executor, self.kind, self.threads = executor, None, None
        self._dask_threads, self._dask_asked, self._dask_workers = 1, -math.inf, set()
        if executor is None:
            import loky

            self.kind, self.threads = "loky", 1
            self.n_workers = n_workers or loky.cpu_count()
            self.pool = self._loky_pool()
        elif isinstance(executor, str) and executor == "serial":
            self.kind, self.n_workers = "serial", 1
        elif _is_dask_client(executor):
            self.kind, self.threads, self.n_workers = "dask", 1, None
        elif isinstance(executor, cf.Executor):
            self.kind, self.pool, self.n_workers = "futures", executor, None
        else:
            raise TypeError(
                "executor must be None (local processes), 'serial', a dask.distributed.Client or a "
                f"concurrent.futures.Executor, got {type(executor).__name__} {executor!r}"
            )

    def _loky_pool(self):
        import loky

        one = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        # Kernel > Interrupt signals the kernel's whole process group, workers included: they ignore
        # SIGINT, so that the first interrupt lets running configurations finish (the second kills them).
        return loky.get_reusable_executor(
            max_workers=self.n_workers, timeout=300, env=one, initializer=signal.signal,
            initargs=(signal.SIGINT, signal.SIG_IGN),
        )  # fmt: skip

    @property
    def capacity(self):
        """How many configurations to have submitted at once (None: all of them).

        On Dask, as many as the cluster has worker threads (asked at most once a
        second: workers come and go), so that what is submitted is what runs,
        and an interrupt leaves nothing queued on the cluster that it would have
        to cancel there.
        """
        if self.kind == "dask":
            self.look_at_workers()
            return self._dask_threads
        return self.n_workers

    def look_at_workers(self):
        """Dask, at most once a second: count the worker threads, and shield new workers (a restarted one too)."""
        if self.kind != "dask" or time.monotonic() - self._dask_asked < 1.0:
            return
        self._dask_asked = time.monotonic()
        try:
            nthreads = self.executor.nthreads()
        except Exception:  # the scheduler did not answer: keep the last count (the futures will tell)
            return
        self._dask_threads = max(1, sum(nthreads.values()))
        if set(nthreads) - self._dask_workers:
            self._dask_workers = set(nthreads)  # first: release() must undo even a shield that failed half-way
            self._shield_dask_workers()

    def submit(self, fn, params, seed):
        if self.kind == "dask":
            return self.executor.submit(run_config, fn, params, seed, self.threads, pure=False)
        for attempt in range(3 if self.kind == "loky" else 1):
            try:
                return self.pool.submit(run_config, fn, params, seed, self.threads)
            except cf.BrokenExecutor:  # a pool that broke between our look and this submit: a fresh one
                if self.kind != "loky" or attempt == 2:
                    raise
                time.sleep(0.1)
                self.renew()

    def wait(self, futures, timeout):
        if self.kind == "dask":
            done = {f for f in futures if f.done()}
            if not done:
                time.sleep(min(timeout, 0.05))
            return done
        return cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)[0]

    def _shield_dask_workers(self):
        """Workers in our process group ignore SIGINT while the sweep runs (see ``_ignore_sigint_in_group``)."""
        self.executor.run(_ignore_sigint_in_group, os.getpgrp(), on_error="ignore")

    def release(self):
        """At the end of the sweep: Dask workers that ignored SIGINT for it take their own handler back."""
        if self.kind == "dask" and self._dask_workers:
            try:
                self.executor.run(_restore_sigint, on_error="ignore")
            except Exception:  # a cluster that went away: nothing to give back
                pass

    def cancel_pending(self, futures) -> int:
        """The first Ctrl-C: cancel what has not started (running ones go on); how many were cancelled."""
        if self.kind != "dask":
            return sum(bool(f.cancel()) for f in futures)  # concurrent.futures cancels only pending ones
        try:  # Dask's cancel would stop a running task too: only those no worker is processing
            running = {key for keys in self.executor.processing().values() for key in keys}
        except Exception:
            return 0  # no answer from the scheduler: cancel nothing rather than something running
        pending = [f for f in futures if not f.done() and f.key not in running]
        for future in pending:
            future.cancel()
        return len(pending)

    def died(self, error) -> bool:
        """Whether ``error`` (a future's) says the worker process died."""
        from concurrent.futures.process import BrokenProcessPool

        return self.kind == "loky" and isinstance(error, BrokenProcessPool)

    def renew(self):
        """A fresh loky pool for a broken one: the old one is shut down first, so that loky cannot hand it back."""
        self.pool.shutdown(wait=True, kill_workers=True)
        self.pool = self._loky_pool()

    def cancel(self, futures):
        """The second Ctrl-C: cancel everything in flight; stop our own workers (the user's executor keeps running)."""
        for future in futures:
            future.cancel()
        if self.kind == "loky":
            self.pool.shutdown(wait=True, kill_workers=True)


# --------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------


def sweep(experiment, param_grid, executor=None, cache=None, *, n_workers=None, metric=None, goal="min", plot="auto"):
    """Run ``experiment(**params)`` for every configuration of ``param_grid``; return a :class:`SweepResults`.

    ``executor``: None (local worker processes, ``n_workers`` of them, one per
    core by default), ``"serial"`` (here, one after the other), a
    ``dask.distributed.Client`` or a ``concurrent.futures.Executor``.
    ``cache``: a ``.jsonl`` path; finished configurations are appended to it
    and not run again. ``metric`` (a key of the returned numbers; by default
    the first) and ``goal`` (``"min"`` or ``"max"``) pick the best result the
    panel shows; ``plot`` is the panel's mode, as in ``train_ch8``.
    """
    global _last
    from .sweep_panel import make_sweep_panel

    configs = expand_grid(param_grid)
    _check_signature(experiment, configs)
    if goal not in ("min", "max"):
        raise ValueError(f"goal must be 'min' or 'max', got {goal!r}")
    if n_workers is not None and (isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1):
        raise ValueError(f"n_workers must be a positive int or None, got {n_workers!r}")
    name = f"{getattr(experiment, '__module__', '?')}.{getattr(experiment, '__qualname__', repr(experiment))}"
    store = Cache(cache, name) if cache is not None else None

    keys = [config_key(c) for c in configs]
    records = [Record(index=i, params=c) for i, c in enumerate(configs)]
    todo = deque()
    for i, key in enumerate(keys):
        entry = store.get(key) if store is not None else None
        if entry is not None:
            records[i] = record_from_cache(i, configs[i], entry)
        else:
            todo.append(i)
    results = SweepResults(records, metric=metric, goal=goal)
    _last = results
    backend = _Backend(executor, n_workers)  # first: a bad executor is an error before any panel shows
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
            store.append(keys[i], record)
        panel.update(record)

    in_flight, retry, attempts = {}, deque(), dict.fromkeys(todo, 0)
    status, stop = "error", StopOnInterrupt()
    try:
        if backend.kind == "serial":  # here: an interrupt reaches the function itself (train_ch8 handles it)
            while todo:
                i = todo.popleft()
                finish(i, run_config(experiment, configs[i], config_seed(configs[i])))
        with stop:
            while todo or retry or in_flight:
                if stop.requested and (todo or retry):  # the first Ctrl-C: nothing new starts
                    cancelled = backend.cancel_pending(list(in_flight))
                    todo.clear()
                    retry.clear()
                    print(
                        f"Interrupted: waiting for the {len(in_flight) - cancelled} running configuration(s) to finish "
                        "(interrupt again to stop them now)"
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
        except KeyboardInterrupt:  # a third Ctrl-C: keep what was taken in, stop taking
            pass
        backend.cancel(list(in_flight))
        message = _interrupt_message(results, store)
        print(message)
        raise SweepInterrupted(message, result=results) from None
    finally:
        try:
            panel.close(status)
        finally:
            backend.release()
    return results


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
