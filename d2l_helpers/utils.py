"""Small utilities the book uses everywhere: devices, timers, counters, seeds.

These keep the names and behaviour of upstream d2l 0.17.6 (``try_gpu``,
``Timer``, ``Accumulator``) and add ``set_seed``, which seeds every random
number generator a training run touches, so that a CPU run repeats bit for bit.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import random
import signal
import threading
import time

import numpy as np
import torch

__all__ = [
    "Accumulator",
    "StopOnInterrupt",
    "Timer",
    "TrainingInterrupted",
    "reshape",
    "set_seed",
    "size",
    "tensor",
    "try_all_gpus",
    "try_gpu",
]


def check_int(name: str, value, minimum: int | None = 1) -> int:
    """``value`` as a Python int, or an error that names ``name``.

    Any integer counts, NumPy's too (``np.arange(10, 40, 10)`` in a
    hyper-parameter loop), but not ``True``/``False`` or a float.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        at_least = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {at_least}, got {value!r}")
    return int(value)


def check_positive(name: str, value):
    """``value`` (an int or float, NumPy's too) if it is positive and finite, else an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return value


def try_gpu(i: int = 0) -> torch.device:
    """Return ``cuda:i`` if that GPU exists, otherwise the CPU."""
    if torch.cuda.device_count() >= i + 1:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


def try_all_gpus() -> list[torch.device]:
    """Return all available GPUs, or ``[cpu]`` if there is none."""
    devices = [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())]
    return devices if devices else [torch.device("cpu")]


class Timer:
    """Record several running times (upstream d2l's ``Timer``)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.start()

    def start(self) -> None:
        """Start the timer."""
        self.tik = time.perf_counter()

    def stop(self) -> float:
        """Stop the timer, record the time in a list and return it."""
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        """Return the average time."""
        return sum(self.times) / len(self.times)

    def sum(self) -> float:
        """Return the sum of the recorded times."""
        return sum(self.times)

    def cumsum(self) -> list[float]:
        """Return the running total of the recorded times."""
        return np.array(self.times).cumsum().tolist()


class Accumulator:
    """Accumulate sums over ``n`` variables (upstream d2l's ``Accumulator``)."""

    def __init__(self, n: int) -> None:
        self.data = [0.0] * n

    def add(self, *args) -> None:
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self) -> None:
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and CUDA) together.

    Every iterator in :mod:`d2l_helpers.data` draws its own generator from
    Python's ``random`` when it is created, so calling ``set_seed`` before
    building the data loader and the model makes a CPU run repeat exactly.
    """
    seed = check_int("seed", seed, minimum=None)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------
# Kernel > Interrupt
# --------------------------------------------------------------------------
#
# Every long loop of the package (train_ch8, the 1.0 Trainer, the sweep) treats
# Kernel > Interrupt (SIGINT, Ctrl-C) the same way:
#
#   1st SIGINT -> .requested = True; the loop ends its current minibatch (or
#                 configuration), keeps what it has, finalises its panel, prints
#                 where it stopped, then raises TrainingInterrupted;
#   2nd SIGINT -> KeyboardInterrupt at once; the loop still finalises and raises
#                 TrainingInterrupted from it.
#
# Either way the *cell* stops: the statement after the call does not run, so a
# loop over settings in a notebook needs one interrupt, not one per setting.


class TrainingInterrupted(KeyboardInterrupt):
    """Kernel > Interrupt stopped a training loop; what it had done is in ``result``.

    A subclass of ``KeyboardInterrupt``, so it stops the cell (and any loop
    around the call) like any interrupt. ``result`` is what the call would have
    returned: the ``History`` of ``train_ch8`` (also ``d2l.last_history()``),
    the sweep's records so far, ...
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result
        self._shown = False

    def _render_traceback_(self):
        """What IPython shows for this exception: one line, not a stack into the library.

        An interrupt is a stop the learner asked for, not a bug. IPython calls
        this the first time it shows the exception; asked again (``%tb``), it
        gives IPython's full traceback.
        """
        if not getattr(self, "_shown", False):
            self._shown = True
            return [f"{type(self).__name__}: {self} (%tb shows the full traceback)"]
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None:  # (not in IPython: nothing calls this)
            import traceback

            return traceback.format_exception(type(self), self, self.__traceback__)
        return shell.InteractiveTB.structured_traceback(type(self), self, self.__traceback__)


class StopOnInterrupt:
    """While active, the first SIGINT sets ``requested``; a second one raises ``KeyboardInterrupt``.

    Inside :meth:`shielded` the second one waits for the end of the block (a
    third one does not). Outside the main thread (where signal handlers cannot
    be set) it does nothing, and an interrupt arrives as a plain
    ``KeyboardInterrupt``.
    """

    def __init__(self):
        self.requested = False
        self._installed, self._old = False, None
        self._shields, self._deferred = 0, False

    def _handler(self, signum, frame):
        if self.requested:  # a second Ctrl-C: stop now...
            if self._shields and not self._deferred:  # ...but not in the middle of recording a result
                self._deferred = True  # (a third one, if recording hangs, does)
                return
            raise KeyboardInterrupt
        self.requested = True

    @contextlib.contextmanager
    def shielded(self):
        """A block that a second Ctrl-C does not cut in two: its ``KeyboardInterrupt`` comes at the end.

        If the block raises, that error goes on (the interrupt stays pending
        only while the block runs).
        """
        self._shields += 1
        try:
            yield
        except BaseException:
            self._shields -= 1
            if not self._shields:
                self._deferred = False
            raise
        self._shields -= 1
        if not self._shields and self._deferred:
            self._deferred = False
            raise KeyboardInterrupt

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(self, *exc):
        if self._installed:  # (None: the old handler was not set from Python; the default stands in for it)
            signal.signal(signal.SIGINT, signal.default_int_handler if self._old is None else self._old)
            self._installed, self._old = False, None
        return False


def close_panel(progress, status, stop):
    """Turn the panel into its final PNG; a second Ctrl-C meanwhile waits for the end of it.

    The run is then stopping already (``stop.requested``), so that interrupt is
    dropped: the caller raises ``TrainingInterrupted`` (both editions use this).
    """
    try:
        with stop.shielded():
            progress.close(status)
    except KeyboardInterrupt:
        pass


# Three of upstream's tensor aliases. The book's text calls torch directly, but
# upstream's library code for chapter 8 (which learners copy too) goes through
# them: ``d2l.size(y)`` in ``train_epoch_ch8``, ``d2l.reshape(d2l.tensor(...))``
# in ``predict_ch8``.
tensor = torch.tensor


def size(x, *args, **kwargs):
    """The number of elements of tensor ``x`` (upstream's ``d2l.size``: ``x.numel()``)."""
    return x.numel(*args, **kwargs)


def reshape(x, *args, **kwargs):
    """``x.reshape(...)`` (upstream's ``d2l.reshape``)."""
    return x.reshape(*args, **kwargs)
