"""Time the issue's 100-configuration grid of notebook 05's exercise 2, on local processes or a Dask LocalCluster.

The grid (5 x 5 x 4 = 100 configurations, as in published answers to the exercise)::

    {"num_steps": [8, 16, 32, 64, 128], "num_hiddens": [8, 16, 32, 64, 128], "lr": [0.01, 0.1, 1, 10]}

Each configuration is what the notebook's exercise 2 runs for one setting:
``nn.GRU`` on the first 10,000 characters, batch 32, ``--epochs`` epochs of
``train_ch8`` (100, as the notebook's grid), held-out perplexity every 10
epochs on the next 10,000 characters, and a 50-character sample.

Usage::

    python benchmarks/sweep_100.py --executor local            # loky, one worker per core
    python benchmarks/sweep_100.py --executor dask             # LocalCluster(n_workers=2, threads_per_worker=1)
    python benchmarks/sweep_100.py --executor local --cache sweep100.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time

from torch import nn

import d2l_helpers as d2l

GRID = {"num_steps": [8, 16, 32, 64, 128], "num_hiddens": [8, 16, 32, 64, 128], "lr": [0.01, 0.1, 1, 10]}


def experiment(num_steps, num_hiddens, lr, num_epochs=100):
    """One setting, as notebook 05 trains it: final and held-out perplexity, speed, a sample."""
    d2l.set_seed(0)
    train_iter, vocab = d2l.load_data_time_machine(32, num_steps)
    heldout_iter, _ = d2l.load_heldout_time_machine(32, num_steps)
    net = d2l.RNNModel(nn.GRU(len(vocab), num_hiddens), len(vocab))
    with contextlib.redirect_stdout(io.StringIO()):
        history = d2l.train_ch8(net, train_iter, vocab, lr, num_epochs, "cpu", heldout_iter=heldout_iter, plot="off")
    return {
        "perplexity": history.perplexity[-1],
        "held-out": history.heldout_perplexity[-1],
        "best held-out": min(history.heldout_perplexity),
        "tokens/s": sum(history.tokens_per_sec) / len(history.tokens_per_sec),
        "sample": d2l.predict_ch8("time traveller", 50, net, vocab, "cpu"),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executor", choices=["local", "dask", "serial"], default="local")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--cache", default=None)
    args = parser.parse_args(argv)
    grid = {**GRID, "num_epochs": [args.epochs]}
    start = time.perf_counter()
    if args.executor == "dask":
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
            ) as cluster,
            Client(cluster) as client,
        ):
            results = d2l.sweep(experiment, grid, executor=client, cache=args.cache, plot="text")
    else:
        executor = "serial" if args.executor == "serial" else None
        results = d2l.sweep(experiment, grid, executor=executor, cache=args.cache, plot="text")
    wall = time.perf_counter() - start
    busy = sum(r.seconds or 0 for r in results)
    print(results)
    print(
        f"\n{args.executor}: {len(results)} configurations, {args.epochs} epochs each, "
        f"{len(results.failed)} failed: {wall:.0f} s wall ({wall / 60:.1f} min), "
        f"{busy:.0f} s of configuration time in the workers"
    )
    for r in results.failed:
        print("  failed:", r.params, r.error.splitlines()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
