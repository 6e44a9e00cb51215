"""Small utilities the book uses everywhere: devices, timers, counters, seeds.

These keep the names and behaviour of upstream d2l 0.17.6 (``try_gpu``,
``Timer``, ``Accumulator``) and add ``set_seed``, which seeds every random
number generator a training run touches, so that a CPU run repeats bit for bit.
"""

from __future__ import annotations

import random
import time

import numpy as np
import torch

__all__ = ["Accumulator", "Timer", "set_seed", "try_all_gpus", "try_gpu"]


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
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
