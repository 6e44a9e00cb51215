"""d2l.sweep against a plain loop: one grid of short train_ch8 runs, serially and on local processes (``make bench``).

The grid: ``nn.GRU`` on the first 10,000 characters, batch 32, every
combination of num_hiddens {64, 128}, num_steps {16, 35} and lr {0.5, 1}
(8 configurations), --epochs epochs each. It runs

1. serially, in this process, one configuration after the other (what a
   notebook loop does), on one torch thread (``--threads``: on two cores a
   second thread gains little for these small matmuls, and on a busy machine
   it can make training several times slower);
2. with ``d2l.sweep``'s default executor (loky worker processes, one per
   core, one torch thread each), after a warm-up sweep that starts the
   workers (its time is reported on its own: a notebook pays it once).

Reported: the wall time of each, the speed-up (target >= 1.7x on 2 cores), the
overhead per configuration, ``(wall x workers - sum of the configurations'
own times) / configurations`` (pickling, sending, waiting for the last one),
and the largest difference in final perplexity between the two runs (the
seeds are the same; thread counts differ, so float sums may too).
Timings on a shared machine are noisy: compare the two rows of one run.

Usage::

    python benchmarks/bench_sweep.py [--epochs 30] [--check]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time

import torch
from torch import nn

import d2l_helpers as d2l

GRID = {"num_hiddens": [64, 128], "num_steps": [16, 35], "lr": [0.5, 1.0]}
TARGET = 1.7


def experiment(num_hiddens, num_steps, lr, num_epochs):
    """One short train_ch8 run of nn.GRU; its History."""
    train_iter, vocab = d2l.load_data_time_machine(32, num_steps)
    net = d2l.RNNModel(nn.GRU(len(vocab), num_hiddens), len(vocab))
    with contextlib.redirect_stdout(io.StringIO()):
        return d2l.train_ch8(net, train_iter, vocab, lr, num_epochs, "cpu", plot="off")


def _identity(x):
    return x


def _timed(**kwargs):
    start = time.perf_counter()
    results = d2l.sweep(experiment, {**GRID, "num_epochs": [ARGS.epochs]}, plot="off", **kwargs)
    return results, time.perf_counter() - start


def main(argv=None):
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30, help="epochs per configuration")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the serial loop")
    parser.add_argument("--check", action="store_true", help="exit 1 when the speed-up misses the target")
    ARGS = parser.parse_args(argv)
    import loky

    torch.set_num_threads(ARGS.threads)
    workers = loky.cpu_count()
    threads = torch.get_num_threads()
    print(f"{os.cpu_count()} cores, {workers} workers, torch {torch.__version__}, {threads} threads here")
    d2l.load_corpus_time_machine()  # the text is read once before timing

    serial, serial_s = _timed(executor="serial")
    start = time.perf_counter()
    d2l.sweep(_identity, {"x": list(range(workers))}, plot="off")  # starts the workers
    startup_s = time.perf_counter() - start
    local, local_s = _timed()

    assert all(r.ok for r in serial + local), [r.error for r in serial + local if not r.ok]
    n = len(local)
    overhead = (local_s * workers - sum(r.seconds for r in local)) / n
    diff = max(abs(a.metrics["perplexity"] - b.metrics["perplexity"]) for a, b in zip(serial, local))
    ratio = serial_s / local_s
    rows = [
        (f"serial loop ({ARGS.threads} torch thread)", serial_s, "1.00x"),
        (f"d2l.sweep, {workers} local workers", local_s, f"{ratio:.2f}x"),
    ]
    print(f"\nsweep: {n} configurations of nn.GRU, {ARGS.epochs} epochs each")
    print(f"{'':34s} {'wall/s':>8s} {'speed-up':>9s}")
    for label, seconds, speedup in rows:
        print(f"{label:34s} {seconds:8.1f} {speedup:>9s}")
    print(f"worker start (once per session): {startup_s:.1f} s")
    print(f"overhead per configuration: {overhead:.2f} s (of {sum(r.seconds for r in local) / n:.2f} s of training)")
    print(f"largest final-perplexity difference, serial vs sweep: {diff:.2e}")
    if ratio < TARGET:
        print(f"target missed: speed-up {ratio:.2f}x < {TARGET}x (timings on a busy machine are noisy)")
        if ARGS.check:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
