"""Where the sweep's configurations run: loky worker processes, Dask, a concurrent.futures executor, or here.

:func:`run_config` is what runs in a worker: seed, call, time, catch. The
:class:`Backend` submits configurations and says which finished, whatever the
executor; the sweep loop (:mod:`d2l_helpers.sweep`) knows only it.

Three promises are kept here:

* **Same numbers on every executor.** Each configuration is seeded from its
  parameters. torch's and NumPy's generators are global to a process, so two
  configurations in two threads of one process would draw from each other's
  seeds: configurations that run in threads of one process (a
  ``ThreadPoolExecutor``, a Dask worker with several threads) run one at a
  time, under a lock (Python's ``random`` gets a generator per thread).
* **No orphans.** A loky worker whose parent dies (the kernel killed or
  restarted) exits within about a second: a watchdog thread in each worker
  sees that its parent process changed.
* **Ctrl-C** reaches the kernel's whole process group (POSIX): our workers,
  and a notebook's Dask ``LocalCluster`` workers, ignore SIGINT while a sweep
  runs. On Windows there is no process group (``os.getpgrp``): Kernel >
  Interrupt reaches the kernel only, and nothing needs shielding.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
import random
import signal
import socket
import threading
import time
import traceback
import warnings

from .utils import set_seed

__all__ = ["Backend", "run_config"]

_WATCH_EVERY = 0.5  # seconds between a worker's looks at its parent


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


# torch's and NumPy's generators have no per-thread version: configurations in
# threads of one process take turns, so that each draws only from its own seed.
_one_at_a_time = threading.Lock()


def run_config(fn, params, seed, threads=None):
    """Run ``fn(**params)`` after seeding; what a worker sends back (a dict; never raises for ``fn``'s errors)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    in_thread = threading.current_thread() is not threading.main_thread()
    if in_thread:
        _one_at_a_time.acquire()
    owner, start = None, time.perf_counter()
    value, error = None, None
    try:
        owner = _own_random() if in_thread else None
        set_seed(seed)
        value = fn(**params)
    except Exception as e:  # recorded; the sweep goes on with the others
        error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}"
    finally:
        if owner is not None:
            del _thread_random[owner]
        if in_thread:
            _one_at_a_time.release()
    return {
        "value": value,
        "error": error,
        "seconds": time.perf_counter() - start,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


# --------------------------------------------------------------------------
# Worker processes: no orphans, no SIGINT
# --------------------------------------------------------------------------


# What each loky worker runs first: ignore SIGINT (see the module's docstring), and exit as soon as
# the process that made the pool is no longer its parent: it died, and nobody will read our results.
# (A POSIX orphan is adopted by another process, so its parent id changes. On Windows the id stays
# the dead parent's and this never fires; loky's own idle timeout, 300 s, ends the worker there.)
# It is source text run by ``exec`` rather than a function of this module so that it imports no
# more than the standard library: a worker that imported d2l_helpers (and torch) before taking its
# first configuration would leave the others to the worker that happened to start first.
_WORKER_START = f"""
import os, signal, threading, time

signal.signal(signal.SIGINT, signal.SIG_IGN)

def watch(parent):
    while os.getppid() == parent:
        time.sleep({_WATCH_EVERY})
    os._exit(1)

threading.Thread(target=watch, args=(parent,), name="d2l-sweep-watchdog", daemon=True).start()
"""


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
    getpgrp = getattr(os, "getpgrp", None)  # (POSIX only)
    if getpgrp is None or getpgrp() != pgid or threading.current_thread() is not threading.main_thread():
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


class Backend:
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
            threads = getattr(executor, "_max_workers", 1) if isinstance(executor, cf.ThreadPoolExecutor) else 1
            if threads > 1:
                warnings.warn(
                    f"the ThreadPoolExecutor's {threads} threads share torch's and NumPy's random generators, so "
                    "the sweep runs one configuration at a time in them (to give the same numbers as "
                    "executor='serial'); for configurations side by side use executor=None (local processes)",
                    stacklevel=3,
                )
        else:
            raise TypeError(
                "executor must be None (local processes), 'serial', a dask.distributed.Client or a "
                f"concurrent.futures.Executor, got {type(executor).__name__} {executor!r}"
            )

    def _loky_pool(self):
        import loky

        one = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        # Kernel > Interrupt signals the kernel's whole process group, workers included: they ignore
        # SIGINT, so that the first interrupt lets running configurations finish (the second kills them);
        # and they watch their parent (see _WORKER_START).
        return loky.get_reusable_executor(
            max_workers=self.n_workers, timeout=300, env=one, initializer=exec,
            initargs=(_WORKER_START, {"parent": os.getpid()}),
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
        if hasattr(os, "getpgrp"):  # (Windows has no process groups: an interrupt reaches no worker)
            self.executor.run(_ignore_sigint_in_group, os.getpgrp(), on_error="ignore")

    def release(self):
        """At the end of the sweep: Dask workers that ignored SIGINT for it take their own handler back."""
        if self.kind == "dask" and self._dask_workers and hasattr(os, "getpgrp"):  # (shielded only on POSIX)
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

    @property
    def second_interrupt(self) -> str:
        """What a second Ctrl-C does, in words for the first one's acknowledgement."""
        if self.kind == "loky":
            return "stop them now (their results are lost)"
        if self.kind == "dask":
            return "cancel them (they run to their end on their workers, and their results are dropped)"
        return "stop waiting for them (they run to their end in the executor, and their results are dropped)"

    def cancel(self, futures):
        """The second Ctrl-C: cancel everything in flight; stop our own workers (the user's executor keeps running)."""
        for future in futures:
            future.cancel()
        if self.kind == "loky":
            self.pool.shutdown(wait=True, kill_workers=True)
